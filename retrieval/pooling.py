"""Pooling a CNN feature map into one vector: weighted GeM over the un-erased cells."""

import numpy as np
import torch
import torch.nn.functional as F

from retrieval.errors import EmptyQueryError


def keep_weights(mask, grid):
    """Per-cell weight in [0, 1] on a (h, w) feature grid from an image-resolution mask.

    `mask`: True/1 = erased. A cell's weight is its un-erased area fraction,
    squared: cells half under the grey fill also see the fill through their
    receptive field, so they count much less. (Measured on Holidays split A
    against plain fraction, a hard cut and a one-cell dilation; see docs/benchmarks-history.md.)
    """
    # np.array copies: turned masks are views with negative strides, which torch refuses.
    erased = torch.from_numpy(np.array(mask, dtype=np.float32))[None, None]
    erased = F.interpolate(erased, size=tuple(grid), mode="area")[0, 0]
    return (1 - erased).clamp(min=0) ** 2


def gem(fmap, p, weights=None):
    """Generalised mean over the cells of a (C, h, w) map, optionally weighted per cell."""
    x = fmap.float().clamp(min=1e-6).pow(p)
    if weights is None:
        return x.mean(dim=(1, 2)).pow(1 / p)
    total = weights.sum()
    if total <= 1e-6:
        raise EmptyQueryError("the mask covers the whole image: nothing left to match")
    return ((x * weights).sum(dim=(1, 2)) / total).pow(1 / p)


def l2n(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
