"""In-memory retrieval evaluation: embed gallery and queries, rank by cosine, score.

No database is touched, so it runs the same in tests, on a laptop and in CI.
Protocol (Holidays / Hotels-50K style): every image is in the gallery; each query
is ranked against all the others (itself excluded). Occlusion is applied to the
queries only; each occluded level is scored twice from the same forward pass:
``grey`` (grey fill, mask ignored) and ``masked`` (mask given to the pooling and
to the local-feature detector).

With a ``RerankConfig`` (the default) each query's global top-K is re-scored by
geometric verification of SIFT matches (retrieval.verification); gallery local features
are extracted once, like the gallery vectors.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

from retrieval import context as hotel_context
from retrieval import pca, whitening
from retrieval.descriptors import query_similarity
from retrieval.errors import EmptyQueryError
from retrieval.hotel_metrics import DEPTH, hotel_metrics
from retrieval.images import load_image, rotations
from retrieval.local_features import LocalConfig, extract
from retrieval.metrics import summarize
from retrieval.occlusion import LEVELS, occlude, person_mask
from retrieval.verification import RerankConfig, rerank

CHUNK = 32  # images per progress step
DEPTH_HOTELS = 10  # hotels scored by the hotel metrics (top-10): the context's k
CONTEXT_BELOW = 10.0  # photos of hotels not leading stay below those re-scored in context
DEFAULT_RERANK = RerankConfig()
DEFAULT_LOCAL = LocalConfig()


def evaluate(
    extractor,
    items,
    occlusions=("none",),
    progress=None,
    rerank_config=DEFAULT_RERANK,
    local_config=DEFAULT_LOCAL,
    reduce_dim=None,
    learned=None,
    fit_on=None,
    context=True,
):
    """Score `extractor` on dataset `items`; returns a JSON-ready dict.

    progress(done, total) is called after each chunk of embedded images.
    rerank_config=None scores the global descriptor alone.
    reduce_dim: rank by PCA projections learned on this gallery (retrieval.pca, as
    the worst case of the pgvector graph over projections (which re-scores a shortlist).
    learned: a `LearnedLever` (learned whitening) fitted without the queries it scores,
    under `learned.protocol` ("known" or "unseen" hotels, see `fit_folds`), or on the
    labelled items `fit_on` (another dataset) when given.
    context: re-score the leading hotels' photos in their hotel's context
    (`retrieval.context`, part of the serving model), with the labels a deployed
    gallery has: every photo's where every photo is a query (the query itself left out
    of its hotel's context), the non-query photos' where the set has a query column.
    """
    unknown = set(occlusions) - {"none", *LEVELS}
    if unknown:
        raise ValueError(
            f"unknown occlusion level(s) {sorted(unknown)}; use none or {', '.join(LEVELS)}"
        )
    queries = [i for i, item in enumerate(items) if item.is_query]
    n_rot = len(extractor.config.query_rotations)
    occluded_levels = len([o for o in occlusions if o != "none"])
    # the gallery; every query's turns per level, then the masked form per occluded level
    steps = len(items) + len(queries) * (n_rot * len(occlusions) + occluded_levels)
    if rerank_config is not None:  # local features: the gallery, then 2 per occluded query
        steps += len(items) + 2 * len(queries) * occluded_levels
    counter = _Progress(progress, steps)
    max_side = extractor.network_side
    images = [load_image(item.path, max_side) for item in items]

    started = time.perf_counter()
    gallery = np.concatenate([extractor.describe_images(chunk) for chunk in counter.chunks(images)])
    gallery_ms = 1000 * (time.perf_counter() - started) / len(items)
    components = None
    if reduce_dim:
        components, kept = pca.fit(gallery, reduce_dim)
        gallery = pca.project(gallery, components)

    result = {
        "model_version": extractor.model_version,
        "images": len(items),
        "queries": len(queries),
        "gallery_ms_per_image": round(gallery_ms, 1),
        "rerank": None,
        "reduction": None if components is None else {"dim": reduce_dim, "kept": round(kept, 4)},
        "levels": {},
    }
    local = None
    if rerank_config is not None:
        started = time.perf_counter()
        local = _local_features(images, [None] * len(images), local_config, counter)
        result["rerank"] = {
            "config": rerank_config.version,
            "local_features": local_config.version,
            "local_ms_per_image": round(1000 * (time.perf_counter() - started) / len(items), 1),
        }
    ctx = _Context(extractor, items, images, queries, gallery, local, rerank_config, local_config)
    ctx.components = components
    ctx.folds = None
    ctx.context_labels = _context_labels(items, queries) if context else None
    result["context"] = {"neighbours": hotel_context.NEIGHBOURS} if context else None
    if learned is not None:
        started = time.perf_counter()
        ctx.folds = fit_folds(ctx, learned, fit_on)
        result["learned"] = {
            **learned.describe(),
            "fit_on": "this dataset" if fit_on is None else fit_on[0].path.parent.parent.name,
            "protocol": _protocol(ctx, learned, fit_on),
            "folds": len(ctx.folds),
            "fit_s": round(time.perf_counter() - started, 1),
        }
    for level in occlusions:
        result["levels"][level] = _score_level(ctx, level, counter)
    return result


class _Context:
    """What every level is scored against: the dataset, its gallery and the settings."""

    def __init__(self, extractor, items, images, queries, gallery, local, rerank, local_config):
        self.extractor, self.items, self.images, self.queries = extractor, items, images, queries
        self.gallery, self.local, self.rerank, self.local_config = (
            gallery,
            local,
            rerank,
            local_config,
        )


def _score_level(ctx, level, counter):
    queries, images = ctx.queries, ctx.images
    if level == "none":
        vectors = _query_vectors(
            ctx.extractor, [images[i] for i in queries], [None] * len(queries), counter
        )
        # A clean query is a gallery image: its local features are already there.
        local = None if ctx.local is None else [ctx.local[i] for i in queries]
        return _ranked_metrics(ctx, vectors["grey"], local)
    masks = [person_mask(images[i].size, level, seed=ctx.items[i].name) for i in queries]
    occluded = [occlude(images[i], mask) for i, mask in zip(queries, masks, strict=True)]
    vectors = _query_vectors(ctx.extractor, occluded, masks, counter)
    grey_local = masked_local = None
    if ctx.local is not None:
        grey_local = _local_features(occluded, [None] * len(occluded), ctx.local_config, counter)
        masked_local = _local_features(occluded, masks, ctx.local_config, counter)
    return {
        "coverage": round(float(np.mean([m.mean() for m in masks])), 3),
        "empty_masks": vectors["empty"],
        "grey": _ranked_metrics(ctx, vectors["grey"], grey_local),
        "masked": _ranked_metrics(ctx, vectors["masked"], masked_local),
    }


def _local_features(images, masks, config, counter):
    pairs = list(zip(images, masks, strict=True))
    return [extract(img, mask, config) for chunk in counter.chunks(pairs) for img, mask in chunk]


def _query_vectors(extractor, images, masks, counter):
    """(Q, R, D) query vectors per rotation: grey (fill seen, mask ignored) and masked.

    The masked form is what the live search computes (`describe_queries` with the
    mask: shrunk, turned, inpainted, masked pooling); the grey form is a naive
    system's view of the same turns.
    """
    angles = extractor.config.query_rotations
    pairs = [
        pair
        for image, mask in zip(images, masks, strict=True)
        for pair in rotations(image, mask, angles)
    ]
    grey = []
    for chunk in counter.chunks(pairs):
        grey.extend(extractor.pool(m) for m in extractor.feature_maps([i for i, _ in chunk]))
    grey = np.reshape(grey, (len(images), len(angles), extractor.dim))
    masked, empty = grey.copy(), 0
    occluded = [q for q, mask in enumerate(masks) if mask is not None]
    for chunk in counter.chunks(occluded):
        for q in chunk:
            try:
                masked[q] = extractor.describe_queries([images[q]], [masks[q]])[0]
            except EmptyQueryError:
                empty += 1  # nothing left to pool: the best we can do is the grey image
    return {"grey": grey, "masked": masked, "empty": empty}


def _reduced(ctx, query_vectors):
    if ctx.components is None:
        return query_vectors
    return pca.project(query_vectors, ctx.components)


def _similarity(ctx, query_vectors):
    """(Q, G) best-turn cosine of each query to the gallery, in the learned space if any,
    and in hotel context when the context lever is on."""
    if ctx.folds is None:
        queries = _reduced(ctx, query_vectors)
        return _in_context(ctx, queries, ctx.gallery, np.arange(len(ctx.queries)))
    similarity = np.empty((len(ctx.queries), len(ctx.gallery)), dtype=np.float32)
    for rows, learned in ctx.folds:
        gallery = learned.apply(ctx.gallery)
        similarity[rows] = _in_context(ctx, learned.apply(query_vectors[rows]), gallery, rows)
    return similarity


def _context_labels(items, queries) -> np.ndarray:
    groups = sorted({item.group for item in items})
    labels = np.array([groups.index(item.group) for item in items])
    if len(queries) < len(items):  # a query column: its photos' labels are not known
        labels[queries] = hotel_context.UNLABELLED
    return labels


def _in_context(ctx, queries, gallery, rows):
    """Similarities of `queries` (the queries at positions `rows`, turned) to the
    gallery; with the context lever, each query's leading hotels re-scored in context
    (photos of the other hotels kept below them, in their plain order), as
    `matcher.search` does."""
    similarity = query_similarity(queries, gallery)
    labels = ctx.context_labels
    if labels is None:
        return similarity
    blended = hotel_context.context_vectors(gallery, labels)
    scored = similarity - CONTEXT_BELOW
    for i, row in enumerate(rows):
        item = ctx.queries[row]
        plain = similarity[i].copy()
        plain[item] = -np.inf
        order = np.argsort(-plain, kind="stable")
        keys = [
            ("photo", int(g)) if labels[g] == hotel_context.UNLABELLED else int(labels[g])
            for g in order
        ]
        leading = hotel_context.leading_hotels(keys[:-1], DEPTH_HOTELS)
        photos = np.array([g for g, key in zip(order[:-1], keys, strict=False) if key in leading])
        vectors = blended[photos]
        if labels[item] != hotel_context.UNLABELLED:  # its hotel's context without it
            own = labels[photos] == labels[item]
            vectors = vectors.copy()
            vectors[own] = hotel_context.context_vectors(gallery[photos[own]], labels[photos[own]])
        scored[i, photos] = (queries[i] @ vectors.T).max(axis=0)
    return scored


def _ranked_metrics(ctx, query_vectors, query_local=None):
    items, queries = ctx.items, ctx.queries
    similarity = _similarity(ctx, query_vectors)
    similarity[np.arange(len(queries)), queries] = -np.inf  # a query never retrieves itself
    rerank_ms = None
    if query_local is not None:
        started = time.perf_counter()
        similarity = np.stack(
            [
                rerank(row, features, ctx.local, ctx.rerank)
                for row, features in zip(similarity, query_local, strict=True)
            ]
        )
        rerank_ms = 1000 * (time.perf_counter() - started) / len(queries)
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
    if rerank_ms is not None:
        metrics["rerank_ms_per_query"] = round(rerank_ms, 1)
    metrics["splits"] = _split_metrics(groups[ranking], [items[i].group for i in queries])
    metrics["hotels"] = _hotel_metrics(
        similarity, ranking, groups, [items[i].group for i in queries]
    )
    return {
        key: round(value, 4) if isinstance(value, float) else value
        for key, value in metrics.items()
    }


def _split_metrics(ranked_groups, query_groups) -> dict | None:
    """mAP and top-1 on split A (queries of even group ids: where parameters are chosen)
    and split B (odd ids: never looked at for a choice); None without numeric groups."""
    if not all(str(group).isdigit() for group in query_groups):
        return None
    splits = {}
    for name, parity in (("A", 0), ("B", 1)):
        rows = [q for q, group in enumerate(query_groups) if int(group) % 2 == parity]
        scores = summarize(ranked_groups[rows], [query_groups[q] for q in rows])
        splits[name] = {key: round(scores[key], 4) for key in ("queries", "map", "top1")}
    return splits


def _hotel_metrics(similarity, ranking, groups, query_groups):
    """Groups as hotels: each aggregation's hotel top-1 and MAP@5 (see retrieval.hotel_metrics)."""
    rankings = [
        [(int(j), float(row[j])) for j in order[:DEPTH]]
        for row, order in zip(similarity, ranking, strict=True)
    ]
    return {
        name: {key: round(value, 4) for key, value in scores.items()}
        for name, scores in hotel_metrics(rankings, list(groups), query_groups).items()
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


@dataclass(frozen=True)
class LearnedLever:
    """Learned whitening as the evaluation fits it (see `retrieval.whitening`)."""

    protocol: str = "known"  # "known": k-fold over photos; "unseen": k-fold over hotels
    folds: int = 5
    shrinkage: float = whitening.SHRINKAGE
    power: float = whitening.POWER
    masked_copies: str | None = "medium"  # also fit on each photo with a person erased

    def describe(self) -> dict:
        return asdict(self)


def fit_folds(ctx, lever, fit_on=None) -> list:
    """[(query positions, Whitening)]: each query scored by a map fitted without it.

    A dataset with a query column (Holidays) is fitted once on its non-query photos
    and their groups, the information a deployed system has. Without one (every photo a
    query, as in hotelrooms), k folds: "known" hotels splits the photos, so the fit has
    other photos of a query's hotel (a deployed gallery does); "unseen" splits the
    hotels, so it has none. `fit_on`: items of another labelled set, fitted once.
    """
    if fit_on is not None:
        shared = {item.path.resolve() for item in fit_on} & {i.path.resolve() for i in ctx.items}
        if shared:
            raise ValueError(f"{len(shared)} photos are in both sets: the fit would see queries")
        images = [load_image(item.path, ctx.extractor.network_side) for item in fit_on]
        gallery = ctx.extractor.describe_images(images)
        vectors, labels = _training_set(ctx.extractor, fit_on, images, gallery, lever)
        return [(np.arange(len(ctx.queries)), _fit(vectors, labels, lever))]
    vectors, labels = _training_set(ctx.extractor, ctx.items, ctx.images, ctx.gallery, lever)
    n = len(ctx.items)
    if len(ctx.queries) < n:  # a query column: train on the rest, once (whatever protocol)
        train = np.setdiff1d(np.arange(n), ctx.queries)
        return [(np.arange(len(ctx.queries)), _fit_rows(vectors, labels, train, n, lever))]
    assert list(ctx.queries) == list(range(n))  # below, query positions are item positions
    rng = np.random.default_rng(0)
    if lever.protocol == "known":
        fold_of = rng.permutation(n) % lever.folds
    elif lever.protocol == "unseen":
        groups = sorted({item.group for item in ctx.items})
        group_fold = dict(zip(groups, rng.permutation(len(groups)) % lever.folds, strict=True))
        fold_of = np.array([group_fold[item.group] for item in ctx.items])
    else:
        raise ValueError(f"protocol must be 'known' or 'unseen', not {lever.protocol!r}")
    return [
        (
            np.flatnonzero(fold_of == f),
            _fit_rows(vectors, labels, np.flatnonzero(fold_of != f), n, lever),
        )
        for f in range(lever.folds)
    ]


def _protocol(ctx, lever, fit_on) -> str:
    if fit_on is not None:
        return "another set"
    if len(ctx.queries) < len(ctx.items):
        return "non-query photos"
    return f"{lever.protocol} hotels"


def _training_set(extractor, items, images, gallery, lever):
    """The gallery vectors and labels, plus a person-erased copy of each photo."""
    vectors = gallery
    labels = [item.group for item in items]
    if lever.masked_copies:
        masks = [
            person_mask(im.size, lever.masked_copies, f"{item.name}:fit")
            for item, im in zip(items, images, strict=True)
        ]
        masked = extractor.describe_images(images, masks)
        vectors, labels = np.concatenate([vectors, masked]), labels + labels
    return vectors, labels


def _fit_rows(vectors, labels, rows, n, lever):
    """Fit on `rows` of the items (and their masked copies, stored after the n originals)."""
    rows = np.concatenate([rows, rows + n]) if len(vectors) > n else rows
    return _fit(vectors[rows], [labels[r] for r in rows], lever)


def _fit(vectors, labels, lever):
    return whitening.fit(vectors, labels, shrinkage=lever.shrinkage, power=lever.power)
