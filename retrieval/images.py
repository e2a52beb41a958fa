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


def fill_erased(image, mask, long_side):
    """`image` at `long_side`, its erased pixels (mask True) inpainted from their edges.

    A flat grey person is a shape the CNN describes (hard edges, a uniform patch) in
    every cell whose receptive field reaches it; filling it from its surroundings
    (OpenCV's Telea) lets those cells describe the room. Measured on Holidays split A
    (docs/benchmarks-history.md): masked mAP 0.713 -> 0.738 after re-ranking. Done at the
    network's resolution, so a 12 MP query costs what a thumbnail does.
    """
    import cv2

    # Grey first, so resizing blends grey, never the person, into the pixels around it.
    small = resize_long_side(occlude(image, np.asarray(mask) > 0), long_side)
    # Any pixel the mask touches (a fraction > 0 once shrunk) is filled, never described.
    erased = _mask_image(mask).resize(small.size, Image.NEAREST)
    filled = cv2.inpaint(np.asarray(small), np.asarray(erased), INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return Image.fromarray(filled)


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
