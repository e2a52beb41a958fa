"""A suggested erase mask: find the people in a query photo and cover them.

The investigator corrects the suggestion with the brush, so the mask leans towards
erasing too much: a strip of wall erased costs the search little, a hand left in the
photo can identify a victim.

Three detectors run offline, each good at what the others miss:
- NudeNet's ONNX YOLO (shipped inside the `nudenet` wheel): faces and body parts,
  clothed or not, in close-ups and on beds, where whole-body detectors fail;
- OpenCV's Haar frontal face cascade: small faces NudeNet's 320 px input loses;
- OpenCV's HOG people detector: whole standing people, head to feet.
Each cue becomes a box where the person probably is (a face grows into the body below
it), GrabCut cuts the person's outline out of those boxes, and the result is dilated.

Nothing here imports Django; ONNX Runtime and OpenCV are imported on first use.
"""

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

NUDENET_INPUT = 320  # the side of the square the shipped model was exported for
NUDENET_MIN_SCORE = 0.35
NUDENET_NMS_IOU = 0.45
DETECT_LONG_SIDE = 480  # OpenCV detectors: a person or face of interest stays above their windows
HOG_MIN_SCORE = 1.0  # as in rooms.intake: below this, rooms' furniture fires too
FACE_MIN_NEIGHBOURS = 6
CUT_LONG_SIDE = 256  # GrabCut's cost grows with pixels; outlines survive this scale
CUT_ITERATIONS = 3
GROW_FRACTION = 0.012  # final dilation, a share of the photo's diagonal


@dataclass(frozen=True)
class PersonCue:
    """One sign of a person: `kind` is "face", "body" or "part"; box in photo pixels."""

    kind: str
    label: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float


def suggest_mask(image: Image.Image, threads: int = 1) -> np.ndarray:
    """Boolean (height, width) array, True = erase: the people found in `image`."""
    image = image.convert("RGB")
    return outline_mask(image, find_people(image, threads))


def find_people(image: Image.Image, threads: int = 1) -> list[PersonCue]:
    """Every face, body part and standing person the detectors see, in photo pixels."""
    image = image.convert("RGB")
    gray, scale = _detection_gray(image)
    return [
        *_nudenet_cues(image, threads),
        *(_scaled(cue, scale) for cue in _face_cues(gray)),
        *(_scaled(cue, scale) for cue in _body_cues(gray)),
    ]


def outline_mask(image: Image.Image, cues: list[PersonCue]) -> np.ndarray:
    """The people's outline cut out of the boxes `cues` suggest, then dilated."""
    width, height = image.size
    if not cues:
        return np.zeros((height, width), bool)
    scale = min(1.0, CUT_LONG_SIDE / max(width, height))
    small = image.convert("RGB").resize((round(width * scale), round(height * scale)))
    labels = _seed_labels(small.size, [_scaled(cue, scale) for cue in cues])
    person = _grow(_grab_cut(np.asarray(small)[:, :, ::-1], labels))
    return _resize_mask(person, (width, height))


# --- NudeNet ---------------------------------------------------------------------------


@cache  # one session per process and thread count: loading takes ~100 ms
def _nudenet_session(threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(_nudenet_model_path()), options, providers=["CPUExecutionProvider"]
    )


def _nudenet_model_path() -> Path:
    """The model inside the installed wheel, found without running the package's imports."""
    spec = importlib.util.find_spec("nudenet")
    if spec is None or spec.origin is None:
        raise RuntimeError("the nudenet package is not installed (see requirements.txt)")
    return Path(spec.origin).parent / "320n.onnx"


# Class order of the model's outputs, as in nudenet 3.4's own detector.
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


def _nudenet_cues(image: Image.Image, threads: int) -> list[PersonCue]:
    session = _nudenet_session(threads)
    (output,) = session.run(None, {session.get_inputs()[0].name: _nudenet_input(image)})
    rows = output[0].T  # (anchors, 4 box values + one score per class)
    scores = rows[:, 4:].max(axis=1)
    keep = scores >= NUDENET_MIN_SCORE
    return _nudenet_nms(rows[keep], scores[keep], max(image.size) / NUDENET_INPUT)


def _nudenet_input(image: Image.Image) -> np.ndarray:
    """The photo padded square at its right and bottom, as the model was trained."""
    side = max(image.size)
    square = Image.new("RGB", (side, side))
    square.paste(image, (0, 0))
    pixels = np.asarray(square.resize((NUDENET_INPUT, NUDENET_INPUT), Image.BILINEAR))
    return (pixels.transpose(2, 0, 1)[None] / 255.0).astype(np.float32)


def _nudenet_nms(rows: np.ndarray, scores: np.ndarray, scale: float) -> list[PersonCue]:
    import cv2

    centre_x, centre_y, box_w, box_h = (rows[:, :4] * scale).T
    boxes = np.stack([centre_x - box_w / 2, centre_y - box_h / 2, box_w, box_h], axis=1)
    kept = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), NUDENET_MIN_SCORE, NUDENET_NMS_IOU)
    cues = []
    for index in np.ravel(kept):
        label = NUDENET_LABELS[int(rows[index, 4:].argmax())]
        x, y, w, h = boxes[index]
        kind = "face" if label.startswith("FACE") else "part"
        cues.append(PersonCue(kind, label, (x, y, x + w, y + h), float(scores[index])))
    return cues


# --- OpenCV detectors ------------------------------------------------------------------


def _detection_gray(image: Image.Image) -> tuple[np.ndarray, float]:
    """A small grey copy for the OpenCV detectors, and the factor back to photo pixels."""
    scale = min(1.0, DETECT_LONG_SIDE / max(image.size))
    small = image.convert("L").resize((round(image.width * scale), round(image.height * scale)))
    return np.asarray(small), 1 / scale


def _face_cues(gray: np.ndarray) -> list[PersonCue]:
    side = max(24, min(gray.shape) // 20)
    faces = _face_cascade().detectMultiScale(
        gray, scaleFactor=1.15, minNeighbors=FACE_MIN_NEIGHBOURS, minSize=(side, side)
    )
    return [PersonCue("face", "HAAR_FACE", (x, y, x + w, y + h), 1.0) for x, y, w, h in faces]


def _body_cues(gray: np.ndarray) -> list[PersonCue]:
    if gray.shape[0] < 128 or gray.shape[1] < 64:  # smaller than the HOG window
        return []
    boxes, scores = _hog().detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=1.1)
    return [
        PersonCue("body", "HOG_PERSON", (x, y, x + w, y + h), float(score))
        for (x, y, w, h), score in zip(boxes, np.ravel(scores), strict=True)
        if score >= HOG_MIN_SCORE
    ]


@cache
def _face_cascade():
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV frontal face cascade could not be loaded")
    return cascade


@cache
def _hog():
    import cv2

    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def _scaled(cue: PersonCue, factor: float) -> PersonCue:
    box = tuple(value * factor for value in cue.box)
    return PersonCue(cue.kind, cue.label, box, cue.score)


# --- From boxes to an outline ----------------------------------------------------------


def _seed_labels(size: tuple[int, int], cues: list[PersonCue]) -> np.ndarray:
    """GrabCut's starting labels: each cue's core is the person, its probable extent
    may be, a ring around that may not be, the rest of the photo is background."""
    import cv2

    width, height = size
    labels = np.full((height, width), cv2.GC_BGD, np.uint8)
    extents = [_probable_extent(cue) for cue in cues]
    for extent in extents:
        _paint(labels, _grown(extent, 0.25), cv2.GC_PR_BGD)
    for extent in extents:
        _paint(labels, extent, cv2.GC_PR_FGD)
    for cue in cues:
        for core in _cores(cue):
            _paint(labels, core, cv2.GC_FGD)
    return labels


def _probable_extent(cue: PersonCue) -> tuple[float, float, float, float]:
    """Where the rest of the person probably is, given one cue."""
    x0, y0, x1, y1 = cue.box
    w, h = x1 - x0, y1 - y0
    if cue.kind == "face":  # shoulders ~3 faces wide, feet ~7 faces below the chin
        return (x0 - 1.2 * w, y0 - 0.4 * h, x1 + 1.2 * w, y1 + 7 * h)
    if cue.kind == "body":  # HOG's box already frames the whole person
        return cue.box
    return _grown(cue.box, 0.75)  # a body part: the person is around it, any pose


def _cores(cue: PersonCue) -> list[tuple[float, float, float, float]]:
    """The parts of a cue's box (and below a face) that are surely the person."""
    if cue.kind == "body":  # HOG pads the person; the middle column is torso and legs
        return [_fraction(cue.box, 0.4, 0.2, 0.6, 0.8)]
    core = _fraction(cue.box, 0.25, 0.25, 0.75, 0.75)
    if cue.kind == "face":  # an upright face sits on a neck and a chest
        return [core, _fraction(cue.box, 0.3, 1.0, 0.7, 2.5)]
    return [core]


def _grown(box, fraction):
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * fraction, (y1 - y0) * fraction
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def _fraction(box, left, top, right, bottom):
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return (x0 + left * w, y0 + top * h, x0 + right * w, y0 + bottom * h)


def _paint(labels: np.ndarray, box, value: int) -> None:
    height, width = labels.shape
    x0, y0, x1, y1 = box
    left, top = max(0, int(x0)), max(0, int(y0))
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    labels[top:bottom, left:right] = value


def _grab_cut(bgr: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The pixels GrabCut keeps as the person, cut within the seeded area only (its cost
    grows with pixels). Without background to learn from (the person fills the photo)
    the probable extent is kept as it is."""
    import cv2

    if not np.isin(labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        return labels != cv2.GC_BGD
    rows, cols = _seeded_window(labels != cv2.GC_BGD)
    window = labels[rows, cols].copy()
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: same photo, same mask
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(
        np.ascontiguousarray(bgr[rows, cols]),
        window,
        None,
        *models,
        CUT_ITERATIONS,
        cv2.GC_INIT_WITH_MASK,
    )
    person = np.zeros(labels.shape, bool)
    person[rows, cols] = np.isin(window, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return person


def _seeded_window(seeded: np.ndarray) -> tuple[slice, slice]:
    """The seeded area's bounding box and a margin of background for GrabCut to learn."""
    ys, xs = np.nonzero(seeded)
    margin_y = (ys.max() - ys.min()) // 4 + 4
    margin_x = (xs.max() - xs.min()) // 4 + 4
    height, width = seeded.shape
    return (
        slice(max(0, ys.min() - margin_y), min(height, ys.max() + margin_y + 1)),
        slice(max(0, xs.min() - margin_x), min(width, xs.max() + margin_x + 1)),
    )


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_LINEAR) > 0


def _grow(mask: np.ndarray) -> np.ndarray:
    """Close small holes in the person and dilate past the outline's blur."""
    import cv2

    radius = max(1, round(GROW_FRACTION * np.hypot(*mask.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel, iterations=2)
    return cv2.dilate(closed, kernel) > 0
