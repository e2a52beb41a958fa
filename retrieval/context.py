"""Hotel context: each gallery photo blended with the nearest photos of its own hotel.

A room photo alone is one viewpoint; the other photos of its hotel show the same decor
from elsewhere. Each gallery vector becomes the normalised sum of itself and its
`NEIGHBOURS` most similar photos of the same hotel (label-constrained database-side
augmentation, as Hotel-ID 2021's winner used it; equal weights measured best here),
so a query that shares the hotel's decor but not that exact view scores closer to it.
The labels are the gallery's own: every traveller photo carries its hotel.

Applied at query time to the photos of the hotels leading the plain ranking
(`leading_hotels`): the result is always that of the live gallery (a photo hidden a
moment ago blends into nothing), and nothing stored depends on a hotel's other photos.
Measured on hotelrooms and Holidays (docs/benchmarks.md, "Hotel context").
"""

import numpy as np

NEIGHBOURS = 3  # chosen on hotelrooms and Holidays split A (docs/benchmarks.md)
LEADING = 30  # hotels of the plain ranking re-scored in context (at least k)
UNLABELLED = -1  # a photo without a known hotel keeps its own vector


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
        similarity = own @ own.T
        np.fill_diagonal(similarity, -np.inf)
        count = min(NEIGHBOURS, len(rows) - 1)  # never itself (its similarity is -inf)
        nearest = np.argpartition(-similarity, count - 1, axis=1)[:, :count]  # (a set: summed)
        blended[rows] = own + own[nearest].sum(axis=1)
    norms = np.sqrt(np.einsum("nd,nd->n", blended, blended))[:, None]
    return blended / np.maximum(norms, 1e-12)


def leading_hotels(ranked_hotels, k: int) -> list:
    """The first max(LEADING, k) distinct hotels of a best-first sequence of hotel ids."""
    leading = []
    for hotel in ranked_hotels:
        if hotel not in leading:
            leading.append(hotel)
            if len(leading) == max(LEADING, k):
                break
    return leading
