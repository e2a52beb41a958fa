"""Hotel context: each gallery photo blended with the nearest photos of its own hotel.

A room photo alone is one viewpoint; the other photos of its hotel show the same decor
from elsewhere. Each gallery vector becomes the normalised sum of itself and its
`NEIGHBOURS` most similar photos of the same hotel (label-constrained database-side
augmentation, as Hotel-ID 2021's winner used it; equal weights measured best here),
so a query that shares the hotel's decor but not that exact view scores closer to it.
The labels are the gallery's own: every traveller photo carries its hotel.

Applied at query time to the photos of the hotels leading the plain ranking
(`leading_hotels`), and always as the live gallery stands: a photo hidden a moment ago
blends into nothing. A shared snapshot keeps each row's nearest rows of its hotel and
its blend's norm (`neighbour_table`) so that a search only gathers (`scores_from_table`);
a hotel changed since that build is blended anew from its live photos.
Measured on hotelrooms and Holidays (docs/benchmarks.md, "Hotel context").
"""

import numpy as np

NEIGHBOURS = 3  # chosen on hotelrooms and Holidays split A (docs/benchmarks.md)
LEADING = 30  # hotels of the plain ranking re-scored in context (at least k)
UNLABELLED = -1  # a photo without a known hotel keeps its own vector
BLOCK_CELLS = 2**24  # similarities held at once (64 MB) when comparing a hotel's photos


def context_vectors(vectors: np.ndarray, hotels: np.ndarray) -> np.ndarray:
    """(N, D) L2-normalised vectors, a hotel label each -> the photos in context."""
    vectors = np.asarray(vectors, dtype=np.float32)
    hotels = np.asarray(hotels)
    blended = vectors.copy()
    order = np.argsort(hotels, kind="stable")
    starts = np.flatnonzero(np.r_[True, hotels[order][1:] != hotels[order][:-1]])
    for rows in np.split(order, starts[1:]):
        if len(rows) < 2 or hotels[rows[0]] == UNLABELLED:
            continue
        own = vectors[rows]
        blended[rows] = own + own[hotel_neighbours(own)].sum(axis=1)
    return blended / np.maximum(norms(blended)[:, None], 1e-12)


def blended_cosines(vectors: np.ndarray, hotels: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """(n, T) cosines of the (T, D) query turns with each photo blended anew in its
    hotel's context (`context_vectors`)."""
    # einsum, not BLAS: OpenBLAS's threads wait on busy cores (as in `SharedIndex`).
    return np.einsum("nd,td->nt", context_vectors(vectors, hotels), turns)


def hotel_neighbours(own: np.ndarray) -> np.ndarray:
    """(n, min(NEIGHBOURS, n - 1)) positions of each of one hotel's n photos' nearest
    other photos (a set: their order is not kept), in row blocks (a large hotel's
    n x n similarities are never held at once)."""
    count = min(NEIGHBOURS, len(own) - 1)
    nearest = np.empty((len(own), max(count, 0)), dtype=np.int64)
    if count <= 0:
        return nearest
    rows = max(1, BLOCK_CELLS // len(own))
    for start in range(0, len(own), rows):
        similarity = own[start : start + rows] @ own.T
        block = np.arange(len(similarity))
        similarity[block, start + block] = -np.inf  # never itself
        nearest[start : start + len(block)] = np.argpartition(-similarity, count - 1, axis=1)[
            :, :count
        ]
    return nearest


def norms(rows: np.ndarray) -> np.ndarray:
    # einsum, not BLAS: OpenBLAS's threads wait on busy cores (as in `SharedIndex`).
    return np.sqrt(np.einsum("nd,nd->n", rows, rows))


def leading_hotels(ranked_hotels, k: int) -> list:
    """The first max(LEADING, k) distinct hotels of a best-first sequence of hotel ids."""
    leading = []
    for hotel in ranked_hotels:
        if hotel not in leading:
            leading.append(hotel)
            if len(leading) == max(LEADING, k):
                break
    return leading


def neighbour_table(vectors: np.ndarray, ranges) -> tuple[np.ndarray, np.ndarray]:
    """What `context_vectors` computes, kept so that a search gathers instead of comparing.

    `ranges`: (start, end) of each hotel's contiguous rows of `vectors`. Returns each
    row's nearest other rows of its hotel, (N, NEIGHBOURS) int32 (-1: the hotel has
    fewer), and the norm of each row's blend (the sum of it and them) before normalising.
    """
    table = np.full((len(vectors), NEIGHBOURS), -1, dtype=np.int32)
    blend_norms = np.ones(len(vectors), dtype=np.float32)
    for start, end in ranges:
        own = np.asarray(vectors[start:end], dtype=np.float32)
        nearest = hotel_neighbours(own)
        if nearest.shape[1] == 0:  # alone in its hotel: its own vector, normalised
            blend_norms[start:end] = norms(own)
            continue
        table[start:end, : nearest.shape[1]] = nearest + start
        blend_norms[start:end] = norms(own + own[nearest].sum(axis=1))
    return table, blend_norms


def scores_from_table(cosines, scored, neighbours, blend_norms) -> np.ndarray:
    """Scores in context from plain cosines, without reading a vector twice.

    `cosines`: (n, T) of n photos (a hotel's every photo among them) to T query turns;
    `scored`: positions of the photos to score, `neighbours` their nearest photos'
    positions (-1: none) and `blend_norms` their blends' norms (`neighbour_table`).
    The cosine with a blend is the sum of the cosines with its parts over its norm.
    """
    neighbours = np.asarray(neighbours, dtype=np.int64)
    valid = neighbours >= 0
    gathered = cosines[np.where(valid, neighbours, 0)] * valid[..., None]
    blend_norms = np.asarray(blend_norms, dtype=np.float32)
    return (cosines[scored] + gathered.sum(axis=1)) / np.maximum(blend_norms, 1e-12)[:, None]
