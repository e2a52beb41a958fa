"""Image preparation for the descriptor: upright decoding, resizing, erasing, turning.

Pure functions over PIL images and NumPy masks (True = erased). OpenCV is imported
lazily by `fill_erased`.
"""

import numpy as np
from PIL import Image, ImageOps

from retrieval.occlusion import occlude


def load_image(source, max_side):
    """Open a path or file object upright, as RGB, decoded at >= max_side when possible."""
    image = Image.open(source)
    # JPEG draft decodes at 1/2, 1/4 or 1/8 scale: a 12 MP phone photo loads ~10x faster.
    image.draft("RGB", (max_side, max_side))
    return ImageOps.exif_transpose(image).convert("RGB")


def resize_long_side(image, long_side):
    width, height = image.size
    scale = long_side / max(width, height)
    return image.resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.BICUBIC
    )


INPAINT_RADIUS = 5  # pixels at the network's resolution


FILLS = ("telea", "blendflip", "grey")


def fill_erased(image, mask, long_side, method="telea"):
    """`image` at `long_side`, its erased pixels (mask True) filled from the room.

    A flat grey person is a shape the CNN describes (hard edges, a uniform patch) in
    every cell whose receptive field reaches it; filling it from its surroundings lets
    those cells describe the room. "telea": OpenCV's inpainting from the edges (Holidays
    split A, docs/benchmarks-history.md: masked mAP 0.713 -> 0.738 after re-ranking);
    "blendflip": the neighbouring strips mirrored in (`blend_flip`); "grey": no fill.
    Done at the network's resolution, so a 12 MP query costs what a thumbnail does.
    """
    import cv2

    if method not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(FILLS)}")
    # Grey first, so resizing blends grey, never the person, into the pixels around it.
    small = resize_long_side(occlude(image, np.asarray(mask) > 0), long_side)
    # Any pixel the mask touches (a fraction > 0 once shrunk) is filled, never described.
    erased = np.asarray(_mask_image(mask).resize(small.size, Image.NEAREST)) > 0
    if method == "grey" or not erased.any():
        return small
    if method == "blendflip":
        return Image.fromarray(blend_flip(np.asarray(small), erased))
    filled = cv2.inpaint(
        np.asarray(small), erased.view(np.uint8) * 255, INPAINT_RADIUS, cv2.INPAINT_TELEA
    )
    return Image.fromarray(filled)


def blend_flip(pixels: np.ndarray, erased: np.ndarray) -> np.ndarray:
    """Fill the erased box with the strips beside it, mirrored, blended by distance.

    Hotel-ID 2022's winning fill: the wall left of a person continues, mirrored, into
    where the person stood, and so does the wall on the right, the floor below and the
    ceiling above; each is weighted by how close its edge is. Rooms repeat their decor
    sideways (bed, lamp, lamp), which a mirror copies and an inpainting smears. A side
    with no photo beyond the box (a person at the edge) brings nothing.
    """
    rows, cols = np.nonzero(erased)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    height, width = bottom - top, right - left
    source = pixels.astype(np.float32)
    box = (slice(top, bottom), slice(left, right))
    strips = [
        (_mirrored(source[box[0], :left][:, ::-1], width, 1), np.linspace(1, 0, width)[None]),
        (_flip(_mirrored(source[box[0], right:], width, 1), 1), np.linspace(0, 1, width)[None]),
        (_mirrored(source[:top, box[1]][::-1], height, 0), np.linspace(1, 0, height)[:, None]),
        (
            _flip(_mirrored(source[bottom:, box[1]], height, 0), 0),
            np.linspace(0, 1, height)[:, None],
        ),
    ]
    used = [
        (strip, np.broadcast_to(w, (height, width)) + 1e-3)
        for strip, w in strips
        if strip is not None
    ]
    filled = pixels.copy()
    if not used:  # the person fills the photo: nothing to mirror
        return filled
    blend = sum(strip * w[..., None] for strip, w in used) / sum(w for _, w in used)[..., None]
    inside = erased[box]
    filled[box][inside] = blend[inside].round().astype(pixels.dtype)
    return filled


def _flip(strip, axis):
    """A right or lower strip ends at the box's far edge: nearest pixels go there."""
    return None if strip is None else np.flip(strip, axis)


def _mirrored(strip: np.ndarray, length: int, axis: int) -> np.ndarray | None:
    """`strip` (nearest pixels first) mirrored into the box: read outwards from the box's
    edge, it fills the box inwards; repeated back and forth when shorter than the box."""
    if strip.shape[axis] == 0:
        return None
    there_and_back = np.concatenate([strip, np.flip(strip, axis)], axis=axis)
    repeats = -(-length // there_and_back.shape[axis])
    tiled = np.concatenate([there_and_back] * repeats, axis=axis)
    return np.take(tiled, np.arange(length), axis=axis)


def _mask_image(mask):
    """An "L" image, 255 where `mask` is > 0 (True, or an erased fraction), else 0."""
    return Image.fromarray((np.asarray(mask) > 0).view(np.uint8) * 255)


def shrink(image, mask, long_side):
    """`image` at `long_side`, erased pixels grey, and the erased fraction of each pixel.

    Queries are turned four ways: shrinking first means a 12 MP photo is resized,
    turned and filled once at the network's size, not four times at full size.
    """
    image = image.convert("RGB")
    if mask is None:
        return resize_long_side(image, long_side), None
    erased = _mask_image(mask)
    # A box reduction mixes nothing across its boxes, so greying the reduced pixels
    # the mask touches hides the person exactly, at a fraction of the full-size work.
    factor = max(1, max(image.size) // (2 * long_side))
    reduced = occlude(image.reduce(factor), np.asarray(erased.reduce(factor)) > 0)
    small = resize_long_side(reduced, long_side)
    fraction = np.asarray(erased.resize(small.size, Image.BOX), dtype=np.float32) / 255
    return small, fraction


ROTATIONS = (0, 90, 180, 270)


def rotations(image, mask=None, angles=ROTATIONS):
    """The image (and its mask) turned counter-clockwise by each angle in `angles`."""
    turns = {
        0: None,
        90: Image.Transpose.ROTATE_90,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_270,
    }
    for angle in angles:
        turned_mask = None if mask is None else np.rot90(np.asarray(mask), angle // 90)
        yield (image if angle == 0 else image.transpose(turns[angle])), turned_mask
