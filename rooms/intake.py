"""Traveller photo intake: validate an upload and produce the copy we store.

Pure functions, no database: `process_upload` either returns a `ProcessedImage` (clean
JPEG bytes plus the private metadata and hashes) or raises `FileRejected`. Services
decide what to store; views decide how to report.

The format is decided by content (Pillow), never by the filename or the content type a
phone claims. Every accepted file is fully decoded here, so a truncated or corrupt file
fails now rather than later in the matcher.

Memory is bounded (issue 19, finding 7): a JPEG is decoded reduced (`draft`, by DCT
scaling) to no less than the stored size, any other format is reduced (`reduce`) right
after decoding, before any full-size copy; the pixels decoded for one request have a
budget (UPLOAD_MAX_REQUEST_PIXELS); and at most UPLOAD_DECODE_CONCURRENCY photos are
decoded at once per process. `manage.py bench_intake_memory` measures the worst case.
"""

import hashlib
import io
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

import imagehash
import numpy as np
import pillow_heif
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext
from PIL import Image, UnidentifiedImageError

pillow_heif.register_heif_opener()

# Pillow format names we open. The JPEG opener also takes the multi-picture JPEGs
# (MPO) that many phones write.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
# Bounded storage, and the matcher resizes far below this anyway: more pixels would
# cost disk and bandwidth without improving a match.
STORED_MAX_SIDE = 2048
# The matcher works at 384 px; 512 leaves room for a sharper thumbnail and future scales.
THUMBNAIL_MAX_SIDE = 512
STORED_JPEG_QUALITY = 90
# Person detection runs on a small copy: faces big enough to matter survive, and the
# cost stays a fraction of a second per photo.
DETECT_MAX_SIDE = 640

# Nudity detection (NudeNet, retrieval.people) runs on a copy this size; the model sees 320 px.
EXPLICIT_MAX_SIDE = 640

# Defaults of the settings read with getattr (documented in README's configuration).
DEFAULT_MAX_REQUEST_PIXELS = 100_000_000
DEFAULT_DECODE_CONCURRENCY = 2
DEFAULT_DECODE_WAIT_SECONDS = 30
DEFAULT_EXPLICIT_MIN_SCORE = 0.35

EXIF_IFD = 0x8769
TAG_ORIENTATION = 0x0112
TAG_MODEL = 0x0110
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME_ORIGINAL = 0x9011


def _reason(message: str, **params) -> str:
    """A refusal `message` (marked with gettext_noop), translated when it is shown: in the
    traveller's language on their pages, in English on the investigator pages that use
    this intake (base.html renders those in English). Placeholders are named, so a
    translation may reorder them."""
    return _translated(message, params)


_translated = lazy(lambda message, params: gettext(message) % params, str)


class FileRejected(Exception):
    """One uploaded file was refused; `reason` is safe to show to the uploader (lazy:
    translated into the language active where it is shown)."""

    def __init__(self, file: str, reason: str, *, too_large: bool = False, busy: bool = False):
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason
        self.too_large = too_large
        self.busy = busy  # no decoding slot came free: the same upload may succeed later


class UploadRejected(Exception):
    """Some files of an upload were refused; nothing of that upload was stored."""

    def __init__(self, rejections: list[FileRejected]):
        super().__init__("; ".join(str(r) for r in rejections))
        self.rejections = rejections

    @property
    def status_code(self) -> int:
        # 503 when the server was busy (retry later); 413 when size is the problem: the
        # client should send smaller files.
        if any(r.busy for r in self.rejections):
            return 503
        return 413 if any(r.too_large for r in self.rejections) else 400

    @property
    def detail(self) -> str:
        count = len(self.rejections)
        return ngettext(
            "No photos were stored: %(count)d file was refused.",
            "No photos were stored: %(count)d files were refused.",
            count,
        ) % {"count": count}

    def as_json(self) -> dict:
        errors = [{"file": r.file, "reason": r.reason} for r in self.rejections]
        return {"detail": self.detail, "errors": errors}


@dataclass(frozen=True)
class ProcessedImage:
    name: str  # the uploaded file's name, for error messages only
    content: bytes  # JPEG, orientation applied, no metadata at all
    thumbnail: bytes  # the same, at most THUMBNAIL_MAX_SIDE
    width: int
    height: int
    sha256: str  # of the uploaded bytes, so re-uploading the same file is caught
    phash: str  # 16 hex digits
    captured_at: datetime | None
    camera_model: str
    flagged_reason: str  # "" when no person was seen
    explicit_labels: tuple[str, ...] = ()  # NudeNet's EXPOSED classes seen: quarantine


class PixelBudget:
    """The pixels one request may have decoded, all its photos together."""

    def __init__(self, limit: int):
        self.limit = limit
        self.left = limit

    def spend(self, pixels: int, name: str) -> None:
        if pixels > self.left:
            reason = _reason(
                gettext_noop(
                    "the photos of this upload are too large together (over %(megapixels)s "
                    "megapixels once decoded); send fewer or smaller photos"
                ),
                megapixels=f"{self.limit / 1_000_000:g}",
            )
            raise FileRejected(name, reason, too_large=True)
        self.left -= pixels


def process_uploads(uploads: list[UploadedFile]) -> list[ProcessedImage]:
    """Process every file, or raise UploadRejected naming each refused one."""
    budget = PixelBudget(getattr(settings, "UPLOAD_MAX_REQUEST_PIXELS", DEFAULT_MAX_REQUEST_PIXELS))
    processed, rejections = [], []
    for upload in uploads:
        try:
            processed.append(process_upload(upload, budget))
        except FileRejected as rejection:
            rejections.append(rejection)
    if rejections:
        raise UploadRejected(rejections)
    return processed


def process_upload(upload: UploadedFile, budget: PixelBudget | None = None) -> ProcessedImage:
    """Validate one uploaded file and return the copy to store; raises FileRejected."""
    name = (upload.name or "unnamed")[:200]
    data = read_limited(upload, name)
    with decoding_slot(name):  # the full-size pixels exist only inside
        image = decode_upload(data, name, budget)
        try:
            captured_at, camera_model = exif_metadata(image)
            clean = normalise(image)
        finally:
            image.close()
    return ProcessedImage(
        name=name,
        content=encode_jpeg(clean),
        thumbnail=encode_jpeg(thumbnail(clean)),
        width=clean.width,
        height=clean.height,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(clean)),
        captured_at=captured_at,
        camera_model=camera_model,
        flagged_reason=detect_person(clean),
        explicit_labels=detect_explicit(clean),
    )


@contextmanager
def decoding_slot(name: str):
    """One of the process's UPLOAD_DECODE_CONCURRENCY decoding slots, for a decode."""
    slots = _decoding_slots(
        getattr(settings, "UPLOAD_DECODE_CONCURRENCY", DEFAULT_DECODE_CONCURRENCY)
    )
    wait = getattr(settings, "UPLOAD_DECODE_WAIT_SECONDS", DEFAULT_DECODE_WAIT_SECONDS)
    if not slots.acquire(timeout=wait):
        reason = gettext_lazy("the server is busy; please send it again in a minute")
        raise FileRejected(name, reason, busy=True)
    try:
        yield
    finally:
        slots.release()


@cache  # one semaphore per process (and per configured count)
def _decoding_slots(count: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(max(1, count))


def read_limited(upload: UploadedFile, name: str) -> bytes:
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise FileRejected(name, _too_large_reason(limit), too_large=True)
    upload.seek(0)
    data = upload.read(limit + 1)  # never trust the declared size alone
    if len(data) > limit:
        raise FileRejected(name, _too_large_reason(limit), too_large=True)
    if not data:
        raise FileRejected(name, gettext_lazy("file is empty"))
    return data


def _too_large_reason(limit: int) -> str:
    if limit >= 1024 * 1024:
        return _reason(
            gettext_noop("file is larger than the %(limit)s MB upload limit"),
            limit=f"{limit / (1024 * 1024):g}",
        )
    return _reason(gettext_noop("file is larger than the %(limit)d byte upload limit"), limit=limit)


def decode_upload(data: bytes, name: str, budget: PixelBudget | None = None) -> Image.Image:
    """Open by content, check the declared size, then decode every pixel (a JPEG at the
    smallest DCT scale that keeps STORED_MAX_SIDE), charged to the request's budget."""
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns before it raises; treat both as a refusal. (The
        # filter is process-wide while it lasts; it only ever turns this warning into
        # an error, so a concurrent request sees at worst a stricter Pillow.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise FileRejected(name, _too_many_pixels_reason()) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise FileRejected(name, _unsupported_reason(data)) from None
        _check_pixels(image, name)
        if image.format in ("JPEG", "MPO"):
            image.draft(None, (STORED_MAX_SIDE, STORED_MAX_SIDE))
        if budget is not None:
            try:
                budget.spend(image.width * image.height, name)
            except FileRejected:
                image.close()
                raise
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            image.close()
            raise FileRejected(name, _too_many_pixels_reason()) from None
        except Exception:  # any decoder failure means a broken file
            image.close()
            raise FileRejected(name, gettext_lazy("image is truncated or corrupt")) from None
    return image


def _check_pixels(image: Image.Image, name: str) -> None:
    # The header's declared size, checked before decoding allocates anything.
    width, height = image.size
    if width * height > settings.UPLOAD_MAX_PIXELS or width < 1 or height < 1:
        image.close()
        raise FileRejected(name, _too_many_pixels_reason())


def _too_many_pixels_reason() -> str:
    return _reason(
        gettext_noop("image dimensions exceed the %(megapixels)s megapixel limit"),
        megapixels=f"{settings.UPLOAD_MAX_PIXELS / 1_000_000:g}",
    )


def _unsupported_reason(data: bytes) -> str:
    detected = identify_format(data)
    if detected:
        return _reason(
            gettext_noop("unsupported format %(format)s; use JPEG, PNG, WebP or HEIC"),
            format=detected,
        )
    return gettext_lazy("not a recognised image; use JPEG, PNG, WebP or HEIC")


def identify_format(data: bytes) -> str | None:
    """Name a refused file's format for the error message (header only, never decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as other:
            return other.format
    except Exception:  # naming is best effort
        return None


def exif_metadata(image: Image.Image) -> tuple[datetime | None, str]:
    """Capture time and camera model, kept privately for analysts."""
    exif = image.getexif()
    model = _exif_text(exif.get(TAG_MODEL))[:120]
    sub = exif.get_ifd(EXIF_IFD)
    taken = _exif_text(sub.get(TAG_DATETIME_ORIGINAL))
    offset = _exif_text(sub.get(TAG_OFFSET_TIME_ORIGINAL))
    return _parse_exif_datetime(taken, offset), model


def _exif_text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value or "").replace("\x00", "").strip()


def _parse_exif_datetime(taken: str, offset: str) -> datetime | None:
    try:
        moment = datetime.strptime(taken[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    # Cameras record local time; without an offset tag the zone is unknown, so the
    # wall-clock time is stored as if it were UTC.
    return moment.replace(tzinfo=_parse_offset(offset))


def _parse_offset(offset: str) -> timezone:
    try:
        sign = -1 if offset.startswith("-") else 1
        hours, minutes = offset.lstrip("+-").split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    except ValueError:
        return UTC


# EXIF orientation -> the transposition that makes the photo upright (as exif_transpose).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Modes Image.reduce takes; the others are converted (at full size) first.
REDUCIBLE_MODES = ("L", "LA", "La", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "I", "F")
REDUCE_STRIP_ROWS = 64  # output rows per strip


def normalise(image: Image.Image) -> Image.Image:
    """Upright, RGB, at most STORED_MAX_SIDE, and a fresh image with no metadata.

    The decoded photo is reduced first (an integer box filter, cheap), so every later
    step works on a copy near the stored size, never on a full-size one.
    """
    transpose = UPRIGHT.get(_exif_int(image.getexif().get(TAG_ORIENTATION)))
    small = reduced(image, STORED_MAX_SIDE)
    upright = small.transpose(transpose) if transpose is not None else small
    rgb = _to_rgb(upright)
    rgb.thumbnail((STORED_MAX_SIDE, STORED_MAX_SIDE), Image.Resampling.LANCZOS)
    # A new image carries no info dict: no EXIF, XMP, ICC profile or JPEG comment.
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    return clean


def reduced(image: Image.Image, side: int) -> Image.Image:
    """`image` shrunk by the largest integer factor that keeps its long side >= `side`.

    Strip by strip: `Image.reduce` of a whole RGBA image premultiplies alpha into a
    full-size copy, and a palette image would need a full-size conversion first; a
    strip's copies are a few MB.
    """
    factor = max(image.size) // side
    if factor < 2:
        return image
    mode = image.mode if image.mode in REDUCIBLE_MODES else _reducible_mode(image.mode)
    width, height = image.size
    result = Image.new(mode, (-(-width // factor), -(-height // factor)))
    rows = factor * REDUCE_STRIP_ROWS
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        if strip.mode != mode:
            strip = strip.convert(mode)
        result.paste(strip.reduce(factor), (0, top // factor))
    return result


def _reducible_mode(mode: str) -> str:
    return "RGBA" if mode in ("P", "PA") else "RGB"


def _exif_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def thumbnail(image: Image.Image) -> Image.Image:
    small = image.copy()
    small.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.LANCZOS)
    return small


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        # Transparent areas become white, not black.
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=STORED_JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def detect_person(image: Image.Image) -> str:
    """A moderation reason when the photo seems to show a person, else "".

    Tuned towards few false alarms on empty rooms: a frontal face needs several
    overlapping detections (minNeighbors 6, above OpenCV's usual 3-5), and a whole
    body needs a confident HOG score. A false alarm costs a moderator a glance; a miss
    could publish someone's face, so the bar is not set higher.
    """
    gray = _small_gray(image)
    if _detect_faces(gray):
        return "face detected"
    if _detect_bodies(gray):
        return "person detected"
    return ""


def _small_gray(image: Image.Image) -> np.ndarray:
    small = image.convert("L")
    small.thumbnail((DETECT_MAX_SIDE, DETECT_MAX_SIDE))
    return np.asarray(small)


def _detect_faces(gray: np.ndarray) -> bool:
    side = max(24, min(gray.shape) // 12)
    faces = _face_cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=6, minSize=(side, side)
    )
    return len(faces) > 0


def _detect_bodies(gray: np.ndarray) -> bool:
    if gray.shape[0] < 128 or gray.shape[1] < 64:  # smaller than the HOG window
        return False
    _, weights = _hog().detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=1.05)
    return any(float(w) >= 1.0 for w in np.ravel(weights))


def detect_explicit(image: Image.Image) -> tuple[str, ...]:
    """NudeNet's explicit classes (those with EXPOSED in their label) seen in the photo.

    The detector shipped in the nudenet wheel, loaded and fed as `retrieval.people` does
    for the suggested mask; a class counts when any anchor scores at least
    UPLOAD_EXPLICIT_MIN_SCORE.
    """
    from retrieval.people import _nudenet_input, _nudenet_session

    small = image.copy()
    small.thumbnail((EXPLICIT_MAX_SIDE, EXPLICIT_MAX_SIDE))
    session = _nudenet_session(1)
    (output,) = session.run(None, {session.get_inputs()[0].name: _nudenet_input(small)})
    return explicit_labels(output[0][4:].max(axis=1))


def explicit_labels(class_scores) -> tuple[str, ...]:
    """The EXPLICIT_LABELS whose best score (one per NudeNet class, in its order) passes."""
    from retrieval.people import NUDENET_LABELS

    threshold = getattr(settings, "UPLOAD_EXPLICIT_MIN_SCORE", DEFAULT_EXPLICIT_MIN_SCORE)
    return tuple(
        label
        for label, score in zip(NUDENET_LABELS, class_scores, strict=True)
        if "EXPOSED" in label and float(score) >= threshold
    )


@cache  # loaded once per process; OpenCV is imported only when a photo is checked
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
