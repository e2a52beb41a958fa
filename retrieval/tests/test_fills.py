"""Filling a query's erased pixels: BlendFlip mirrors the room in, nothing else moves."""

import numpy as np
import pytest
from PIL import Image

from retrieval.descriptors import DescriptorConfig
from retrieval.images import blend_flip, fill_erased


def _stripes(width=60, height=40, period=6):
    """Vertical stripes: a wall that continues sideways, as rooms repeat their decor."""
    columns = ((np.arange(width) // period) % 2 * 200 + 20).astype(np.uint8)
    return np.repeat(np.repeat(columns[None, :, None], height, axis=0), 3, axis=2)


def test_blend_flip_changes_only_the_erased_pixels():
    pixels = _stripes()
    erased = np.zeros(pixels.shape[:2], dtype=bool)
    erased[10:30, 20:32] = True
    filled = blend_flip(pixels, erased)
    assert np.array_equal(filled[~erased], pixels[~erased])
    assert filled.dtype == pixels.dtype and filled.shape == pixels.shape


def test_blend_flip_fills_a_plain_wall_with_the_wall():
    pixels = np.full((40, 60, 3), (180, 150, 120), dtype=np.uint8)
    erased = np.zeros((40, 60), dtype=bool)
    erased[5:40, 40:60] = True  # a person at the photo's corner: strips mirror back in
    filled = np.asarray(fill_erased(Image.fromarray(pixels), erased, 60, "blendflip"))
    assert np.array_equal(filled, pixels)


def test_blend_flip_mirrors_the_strip_beside_the_box():
    # Columns of their own colour: the strip above (or below) a box holds the box's own
    # columns, so only the sideways strips bring other colours in, mirrored.
    pixels = np.repeat(np.repeat((np.arange(60) * 4).astype(np.uint8)[None, :, None], 40, 0), 3, 2)
    erased = np.zeros((40, 60), dtype=bool)
    erased[10:30, 20:24] = True
    filled = blend_flip(pixels, erased).astype(int)
    # Next to the left edge, the left strip's mirror (column 19) weighs most.
    assert abs(filled[20, 20, 0] - pixels[20, 19, 0]) < abs(filled[20, 23, 0] - pixels[20, 19, 0])
    assert (
        filled[erased].min() >= pixels[:, 16:28].min()
        and filled[erased].max() <= pixels[:, 16:28].max()
    )


def test_grey_leaves_the_erased_pixels_grey():
    pixels = _stripes()
    erased = np.zeros(pixels.shape[:2], dtype=bool)
    erased[5:15, 5:15] = True
    grey = np.asarray(fill_erased(Image.fromarray(pixels), erased, 60, "grey"))
    assert np.unique(grey[erased]).size == 1


def test_an_unknown_fill_is_refused():
    with pytest.raises(ValueError, match="fill"):
        DescriptorConfig(fill="smudge")
    with pytest.raises(ValueError, match="fill"):
        fill_erased(Image.fromarray(_stripes()), np.ones((40, 60), bool), 60, "smudge")


def test_each_side_mirrors_towards_its_own_edge():
    # A box with photo only on its right: the column next to its right edge is copied in
    # next to that edge, the next one beyond it next to that, and so on.
    pixels = np.repeat(np.repeat((np.arange(20) * 10).astype(np.uint8)[None, :, None], 10, 0), 3, 2)
    erased = np.zeros((10, 20), dtype=bool)
    erased[:, :8] = True
    filled = blend_flip(pixels, erased)
    assert list(filled[5, :8, 0]) == [150, 140, 130, 120, 110, 100, 90, 80]
