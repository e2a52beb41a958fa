"""In-memory retrieval evaluation: embed gallery and queries, rank by cosine, score.

No database is touched, so it runs the same in tests, on a laptop and in CI.
Protocol (Holidays / Hotels-50K style): every image is in the gallery; each query
is ranked against all the others (itself excluded). Occlusion is applied to the
queries only; each occluded level is scored twice from the same forward pass:
``grey`` (grey fill, mask ignored) and ``masked`` (mask given to the pooling).
"""

import time

import numpy as np

from matcher.descriptors import EmptyQueryError, load_image, query_similarity, rotations
from matcher.evaluation.metrics import summarize
from matcher.evaluation.occlusion import LEVELS, occlude, person_mask

CHUNK = 32  # images per progress step


def evaluate(extractor, items, occlusions=("none",), progress=None):
    """Score `extractor` on dataset `items`; returns a JSON-ready dict.

    progress(done, total) is called after each chunk of embedded images.
    """
    unknown = set(occlusions) - {"none", *LEVELS}
    if unknown:
        raise ValueError(
            f"unknown occlusion level(s) {sorted(unknown)}; use none or {', '.join(LEVELS)}"
        )
    queries = [i for i, item in enumerate(items) if item.is_query]
    n_rot = len(extractor.config.query_rotations)
    counter = _Progress(progress, len(items) + len(queries) * n_rot * len(occlusions))
    max_side = round(extractor.config.resolution * max(extractor.config.scales))
    images = [load_image(item.path, max_side) for item in items]

    started = time.perf_counter()
    gallery = np.concatenate([extractor.describe_images(chunk) for chunk in counter.chunks(images)])
    gallery_ms = 1000 * (time.perf_counter() - started) / len(items)

    result = {
        "model_version": extractor.model_version,
        "images": len(items),
        "queries": len(queries),
        "gallery_ms_per_image": round(gallery_ms, 1),
        "levels": {},
    }
    for level in occlusions:
        result["levels"][level] = _score_level(
            extractor, items, images, queries, gallery, level, counter
        )
    return result


def _score_level(extractor, items, images, queries, gallery, level, counter):
    if level == "none":
        vectors = _query_vectors(
            extractor, [images[i] for i in queries], [None] * len(queries), counter
        )
        return _ranked_metrics(items, queries, gallery, vectors["grey"])
    masks = [person_mask(images[i].size, level, seed=items[i].name) for i in queries]
    occluded = [occlude(images[i], mask) for i, mask in zip(queries, masks, strict=True)]
    vectors = _query_vectors(extractor, occluded, masks, counter)
    return {
        "coverage": round(float(np.mean([m.mean() for m in masks])), 3),
        "empty_masks": vectors["empty"],
        "grey": _ranked_metrics(items, queries, gallery, vectors["grey"]),
        "masked": _ranked_metrics(items, queries, gallery, vectors["masked"]),
    }


def _query_vectors(extractor, images, masks, counter):
    """(Q, R, D) grey and masked query vectors from one forward pass per rotation."""
    angles = extractor.config.query_rotations
    pairs = [
        pair
        for image, mask in zip(images, masks, strict=True)
        for pair in rotations(image, mask, angles)
    ]
    grey, masked, empty = [], [], 0
    for chunk in counter.chunks(pairs):
        for maps, (_, mask) in zip(
            extractor.feature_maps([image for image, _ in chunk]), chunk, strict=True
        ):
            grey.append(extractor.pool(maps))
            try:
                masked.append(extractor.pool(maps, mask) if mask is not None else grey[-1])
            except EmptyQueryError:
                empty += 1  # nothing left to pool: the best we can do is the grey image
                masked.append(grey[-1])
    shape = (len(images), -1, extractor.dim)
    return {"grey": np.reshape(grey, shape), "masked": np.reshape(masked, shape), "empty": empty}


def _ranked_metrics(items, queries, gallery, query_vectors):
    similarity = query_similarity(query_vectors, gallery)
    similarity[np.arange(len(queries)), queries] = -np.inf  # a query never retrieves itself
    ranking = np.argsort(-similarity, axis=1, kind="stable")[:, :-1]
    groups = np.array([item.group for item in items], dtype=object)
    chains = np.array([item.chain for item in items], dtype=object)
    has_chains = any(item.chain is not None for item in items)
    metrics = summarize(
        groups[ranking],
        [items[i].group for i in queries],
        chains[ranking] if has_chains else None,
        [items[i].chain for i in queries] if has_chains else None,
    )
    return {
        key: round(value, 4) if isinstance(value, float) else value
        for key, value in metrics.items()
    }


class _Progress:
    def __init__(self, callback, total):
        self.callback, self.total, self.done = callback, total, 0

    def chunks(self, sequence):
        for start in range(0, len(sequence), CHUNK):
            yield sequence[start : start + CHUNK]
            self.done += len(sequence[start : start + CHUNK])
            if self.callback:
                self.callback(self.done, self.total)
