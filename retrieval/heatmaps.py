"""Drawing a match's evidence: heat-map overlays and geometric correspondences.

Pure image functions (PIL, NumPy); the cell maps come from `retrieval.explain`, the
correspondences from `retrieval.verification.inlier_pairs`.
"""

import numpy as np
from PIL import Image, ImageDraw

OVERLAY_ALPHA = 0.6  # the strongest cell; weaker ones are more transparent
PAIR_HEIGHT = 300  # pixels of each photo in a side-by-side image (a results card shows ~240)
GAP = 8
ERASED_RGB = (220, 30, 30)
LINE_COLOURS = [(0, 200, 255), (255, 200, 0), (0, 230, 118), (255, 64, 129), (180, 130, 255)]


def _heat_colours(strength: np.ndarray) -> np.ndarray:
    """(h, w) in [0, 1] -> (h, w, 3) uint8, dark red through orange to pale yellow."""
    red = np.clip(strength * 2.2, 0, 1)
    green = np.clip(strength * 1.6 - 0.35, 0, 1)
    blue = np.clip(strength * 2.5 - 1.6, 0, 1)
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def overlay(cells: np.ndarray, size: tuple[int, int], erased=None) -> Image.Image:
    """RGBA image of `size`: where the cells add to the score, transparent elsewhere.

    Only positive contributions are drawn (what makes the photos similar); each map
    is scaled to its own strongest cell, so a weak match still shows where it looks.
    `erased` (bool, any size): left transparent, as the smoothing would bleed into it.
    """
    positive = np.clip(np.asarray(cells, dtype=np.float32), 0, None)
    peak = positive.max()
    strength = positive / peak if peak > 0 else positive
    grid = Image.fromarray((strength * 255).astype(np.uint8), "L")
    # Bilinear from cell centres: the cells are ~32 px receptive-field centres, not tiles.
    smooth = np.asarray(grid.resize(size, Image.BILINEAR), dtype=np.float32) / 255
    alpha = (smooth * OVERLAY_ALPHA * 255).astype(np.uint8)
    if erased is not None:
        hidden = Image.fromarray(np.asarray(erased, dtype=np.uint8) * 255).resize(size)
        alpha[np.asarray(hidden) > 0] = 0
    return Image.fromarray(np.dstack([_heat_colours(smooth), alpha]), "RGBA")


def composite(photo: Image.Image, cells: np.ndarray, erased=None) -> Image.Image:
    """The photo with its heat map laid over it; `erased` (bool, photo size) hatched."""
    base = photo.convert("RGBA")
    base.alpha_composite(overlay(cells, base.size, erased))
    if erased is not None and np.any(erased):
        base.alpha_composite(_hatch(np.asarray(erased, dtype=bool)))
    return base.convert("RGB")


def _hatch(erased: np.ndarray) -> Image.Image:
    """Diagonal red stripes over the erased pixels: "nothing here was compared"."""
    height, width = erased.shape
    rows, cols = np.mgrid[0:height, 0:width]
    stripes = ((rows + cols) // 6) % 2 == 0
    alpha = np.where(erased, np.where(stripes, 200, 90), 0).astype(np.uint8)
    colour = np.broadcast_to(np.array(ERASED_RGB, np.uint8), (height, width, 3))
    return Image.fromarray(np.dstack([colour, alpha]), "RGBA")


def _at_height(image: Image.Image, height: int) -> Image.Image:
    width = max(1, round(image.width * height / image.height))
    return image.convert("RGB").resize((width, height), Image.LANCZOS)


def side_by_side(left: Image.Image, right: Image.Image, height=PAIR_HEIGHT) -> Image.Image:
    """Both photos at the same height with a white gap: query left, gallery right."""
    a, b = _at_height(left, height), _at_height(right, height)
    pair = Image.new("RGB", (a.width + GAP + b.width, height), (255, 255, 255))
    pair.paste(a, (0, 0))
    pair.paste(b, (a.width + GAP, 0))
    return pair


def correspondences(left: Image.Image, right: Image.Image, pairs, height=PAIR_HEIGHT):
    """Side-by-side photos with a line per matched point pair.

    `pairs`: (N, 4) rows (left x, y, right x, y), each normalised to 0..1 of its photo.
    """
    pair = side_by_side(left, right, height)
    left_width = round(left.width * height / left.height)
    right_width = pair.width - left_width - GAP
    draw = ImageDraw.Draw(pair)
    for i, (qx, qy, gx, gy) in enumerate(np.asarray(pairs, dtype=np.float32)):
        start = (qx * left_width, qy * height)
        end = (left_width + GAP + gx * right_width, gy * height)
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        draw.line([start, end], fill=colour, width=2)
        for x, y in (start, end):
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=colour, width=2)
    return pair
