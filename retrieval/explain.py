"""Why two photos match: the descriptor's cosine split over feature-map cells.

The descriptor is a weighted mean of the cells (GeM with p = 1), L2-normalised, then
optionally a learned whitening (an affine map, normalised again). Both steps keep the
score linear in the cells, so the cosine decomposes exactly (Stylianou et al., WACV
2019; ../shared/notes/explain.md):

    q = normalize(mu),  mu = sum_i w_i f_i / W       (w_i: a cell's un-erased weight)
    cos(q, g) = sum_i c(i),  c(i) = w_i f_i . g / (W |mu|)

With a whitening x -> normalize((x - m) P) the gallery vector becomes P g' and the
constant -(m P . g') / |(q - m) P| is spread over the cells in proportion to their
weight, so the cells still sum to the score and an erased cell (w = 0) gets exactly 0.
A map is drawn on the photo by `retrieval.heatmaps`.
"""

from dataclasses import dataclass

import numpy as np
import torch

from retrieval.errors import NotDecomposable
from retrieval.pooling import keep_weights
from retrieval.whitening import Whitening

CLAMP = 1e-6  # `pooling.gem` clamps cells at this before pooling: so does the split
# Stored scores are rounded to 6 places and some indexes keep half floats: a turn within
# this of the search's cosine is the turn that produced it.
SAME_SCORE = 2e-3


@dataclass(frozen=True)
class Explanation:
    query_cells: np.ndarray  # (h, w) contributions, the upright query's orientation
    gallery_cells: np.ndarray  # (h, w) contributions of the gallery photo's cells
    score: float  # the descriptors' cosine; each map sums to it
    turn: int  # degrees the query was turned (counter-clockwise) for its best score


@dataclass(frozen=True)
class _Pooled:
    cells: np.ndarray  # (C, h, w) float64, clamped as pooling clamps them
    weights: np.ndarray  # (h, w) float64
    mean: np.ndarray  # (C,) the weighted mean of the cells

    def descriptor(self, whitening: Whitening | None) -> np.ndarray:
        raw = self.mean / np.linalg.norm(self.mean)
        if whitening is None:
            return raw
        return whitening.apply(raw[None])[0].astype(np.float64)

    def contributions(self, other: np.ndarray, whitening: Whitening | None) -> np.ndarray:
        """(h, w) cells summing to cos(self's descriptor, `other`)."""
        norm, total = np.linalg.norm(self.mean), self.weights.sum()
        if whitening is None:
            direction, scale, constant = other, 1.0, 0.0
        else:
            projection = whitening.projection.astype(np.float64)
            mean = whitening.mean.astype(np.float64)
            direction = projection @ other
            scale = 1 / np.linalg.norm((self.mean / norm - mean) @ projection)
            constant = -(mean @ direction) * scale
        per_cell = np.einsum("chw,c->hw", self.cells, direction)
        return self.weights * (per_cell * scale / (total * norm) + constant / total)


def _pooled(fmap, fraction=None) -> _Pooled:
    cells = fmap.float().clamp(min=CLAMP).double()
    if fraction is None:
        weights = torch.ones(cells.shape[-2:], dtype=torch.float64)
    else:
        weights = keep_weights(fraction, cells.shape[-2:]).double()
    if weights.sum() <= 1e-6:
        raise NotDecomposable("the mask covers the whole image: nothing to explain")
    mean = (cells * weights).sum(dim=(1, 2)) / weights.sum()
    return _Pooled(cells.numpy(), weights.numpy(), mean.numpy())


def _check(config) -> None:
    if config.p != 1 or tuple(config.scales) != (1.0,):
        raise NotDecomposable(
            f"GeM p={config.p:g} at scales {config.scales} is not linear in the cells"
        )


def explain_pair(extractor, query, mask, gallery, whitening=None, expected=None) -> Explanation:
    """The cell maps of a prepared query (mask True = erased) against a gallery photo.

    The query is described as a search describes it (shrunk, filled, each turn); the
    turn that scores best against this photo is the one explained, as in the ranking.
    `expected`: the cosine the search found, when known. Turns are then tried one at a
    time and the first that reproduces it is explained: an upright photo (most of them)
    costs two network passes instead of five.
    """
    _check(extractor.config)
    pooled_gallery = _pooled(extractor.feature_maps([gallery], batch_size=1)[0][0])
    gallery_vector = pooled_gallery.descriptor(whitening)
    tried = []
    for angle, (image, fraction) in zip(
        extractor.config.query_rotations, extractor.query_turns(query, mask), strict=True
    ):
        pooled = _pooled(extractor.feature_maps([image], batch_size=1)[0][0], fraction)
        tried.append((float(pooled.descriptor(whitening) @ gallery_vector), angle, pooled))
        if expected is not None and abs(tried[-1][0] - expected) <= SAME_SCORE:
            break
    score, angle, chosen = max(tried, key=lambda item: item[0])
    # Each side is split against the other's final (whitened, where served) vector.
    query_cells = chosen.contributions(gallery_vector, whitening)
    gallery_cells = pooled_gallery.contributions(chosen.descriptor(whitening), whitening)
    return Explanation(
        query_cells=np.rot90(query_cells, -(angle // 90)).copy(),
        gallery_cells=gallery_cells,
        score=score,
        turn=angle,
    )
