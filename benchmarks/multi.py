"""Several photos of one room as one query: which fusion ranks hotels best.

`evaluate --multi N`: for every group (hotel) with at least N + 1 photos, `subsets`
random sets of N of its photos form a query; the gallery is every other photo of the
dataset (the set's photos left out). Each photo ranks hotels by its best-matching
gallery photo (the hotel aggregation "max", query turns as a search uses them), then
the set's hotel ranking is fused several ways:

- single: each photo alone (the baseline: the mean over the set's photos);
- mean_floor: the product's fusion (`retrieval.ranking.fuse_rankings`) of each photo's
  top `fusion_k(k)` hotels, a photo's lowest listed score where it did not list one;
- mean_full: the mean of every hotel's score over the photos (nothing cut off);
- max: a hotel's best score over the photos;
- descriptor: one vector, the mean of the photos' upright vectors, ranked like a photo.

Global descriptor only (no verification, no learned whitening): the fusions are
compared on equal terms, not the serving model's absolute figures.
"""

import numpy as np

from retrieval.descriptors import query_similarity
from retrieval.images import load_image
from retrieval.pooling import l2n
from retrieval.ranking import fuse_rankings

FUSIONS = ("single", "mean_floor", "mean_full", "max", "descriptor")


def evaluate_multi(extractor, items, n, *, k=10, fusion_k=30, subsets=3, seed=0, progress=None):
    """{"sets", "photos_per_set", "fusions": {name: {"top1", "top10"}}} on `items`."""
    images = [load_image(item.path, extractor.network_side) for item in items]
    gallery = extractor.describe_images(images)
    turned = np.concatenate(
        [extractor.describe_queries(images[i : i + 8]) for i in range(0, len(images), 8)]
    )
    if progress:
        progress(len(items), len(items))
    hotels = sorted({item.group for item in items})
    hotel_of = np.array([hotels.index(item.group) for item in items])
    hits = {name: [] for name in FUSIONS}
    for truth, members in _query_sets(hotel_of, n, subsets, seed):
        keep = np.setdiff1d(np.arange(len(items)), members)
        photo_scores = [
            _hotel_scores(query_similarity(turned[[m]], gallery[keep])[0], hotel_of[keep], hotels)
            for m in members
        ]
        fused = l2n(turned[members, 0].mean(axis=0))[None, None]
        descriptor = _hotel_scores(
            query_similarity(fused, gallery[keep])[0], hotel_of[keep], hotels
        )
        for scores in photo_scores:  # the baseline counts every photo of the set alone
            hits["single"].append(_rank_of(truth, list(np.argsort(-scores))))
        for name, ranking in _fused(photo_scores, descriptor, fusion_k).items():
            hits[name].append(_rank_of(truth, ranking))
    return {
        "sets": len(hits["max"]),
        "photos_per_set": n,
        "fusions": {
            name: {
                "top1": round(float(np.mean([r == 0 for r in ranks])), 3),
                f"top{k}": round(float(np.mean([r < k for r in ranks])), 3),
            }
            for name, ranks in hits.items()
            if ranks
        },
    }


def _query_sets(hotel_of, n, subsets, seed):
    """(hotel, photo indices) of each query set: `subsets` draws per eligible hotel."""
    rng = np.random.default_rng(seed)
    for hotel in np.unique(hotel_of):
        members = np.flatnonzero(hotel_of == hotel)
        if len(members) < n + 1:
            continue
        for _ in range(subsets):
            yield hotel, np.sort(rng.choice(members, size=n, replace=False))


def _hotel_scores(similarity, gallery_hotels, hotels) -> np.ndarray:
    """(H,) each hotel's best photo similarity; -inf where the gallery has none."""
    scores = np.full(len(hotels), -np.inf)
    np.maximum.at(scores, gallery_hotels, similarity)
    return scores


def _fused(photo_scores, descriptor, fusion_k) -> dict:
    """{fusion: hotel indices best first} of one set."""
    stacked = np.stack(photo_scores)
    tops = [
        [(int(h), float(s[h])) for h in np.argsort(-s)[:fusion_k] if np.isfinite(s[h])]
        for s in photo_scores
    ]
    return {
        "mean_floor": [hotel for hotel, _, _ in fuse_rankings(tops)],
        "mean_full": list(np.argsort(-np.where(np.isfinite(stacked), stacked, -1).mean(axis=0))),
        "max": list(np.argsort(-stacked.max(axis=0))),
        "descriptor": list(np.argsort(-descriptor)),
    }


def _rank_of(truth, ranking) -> float:
    """Position of the true hotel in a ranking (inf when absent)."""
    return float(ranking.index(truth)) if truth in ranking else np.inf
