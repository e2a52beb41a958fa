"""Investigators' verdicts (a match confirmed or rejected) in the learned whitening.

They are read through `settings.MATCHER_DECISIONS_SOURCE` (a dotted path; empty = none)
because the matcher may not import the investigations app: an iterable of objects with
`key`, `image`, `mask`, `confirmed` and `rejected` (`investigations.training`).

A confirmed query joins its hotel's photos in the fit. That is the very case the
whitening learns from: a photo from an unknown camera, a person erased, that belongs
with that hotel's gallery photos. A rejection says only what a photo is not, and a
whitening learns how one hotel's photos vary, so rejections do not enter the fit: they
test it. A fifth of the decided queries (by a hash of their key, so the split is
stable) are held out of the fit, and a candidate that orders their confirmed photos
above their rejected ones less often than the serving map does is not promoted (once
there are `MIN_GATE_PAIRS` such pairs: fewer say too little). The whitening records
the searches whose queries joined its fit, so a purged search's influence can be found.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

HELD_OUT_EVERY = 5  # one decided search in five tests the fit instead of joining it
MIN_GATE_PAIRS = 20  # fewer held-out (confirmed, rejected) pairs are too few to refuse a fit


@dataclass
class Decided:
    keys: list  # M search keys (recorded with the whitening: which searches taught it)
    vectors: np.ndarray  # (M, D) raw vectors of the prepared queries (upright)
    confirmed: list  # M tuples of gallery image ids
    rejected: list  # M tuples of gallery image ids
    held: np.ndarray  # (M,) bool: held out of the fit

    def __len__(self):
        return len(self.confirmed)


def read(get_extractor) -> Decided | None:
    """The decided queries, described by `get_extractor()` (only called when there are
    any: it loads the CNN); None when there are none."""
    source = settings.MATCHER_DECISIONS_SOURCE
    queries = list(import_string(source)()) if source else []
    if not queries:
        return None
    vectors = get_extractor().describe_images([q.image for q in queries], [q.mask for q in queries])
    return Decided(
        keys=[q.key for q in queries],
        vectors=np.asarray(vectors, dtype=np.float32),
        confirmed=[tuple(q.confirmed) for q in queries],
        rejected=[tuple(q.rejected) for q in queries],
        held=np.array([_held_out(q.key) for q in queries], dtype=bool),
    )


def _held_out(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % HELD_OUT_EVERY == 0


def fit_rows(decided: Decided | None, image_ids, hotels) -> tuple[np.ndarray, np.ndarray, list]:
    """(vectors, hotel labels, their search keys) of the confirmed queries that join the fit.

    A query's hotel is that of its confirmed gallery photos; one whose confirmed photos
    are of several hotels (contradictory verdicts) or no longer searchable is left out.
    """
    if decided is None:
        return np.empty((0, 0), np.float32), np.empty(0, np.int64), []
    hotel_of = dict(zip(np.asarray(image_ids).tolist(), np.asarray(hotels).tolist(), strict=True))
    rows, labels = [], []
    for row, confirmed in enumerate(decided.confirmed):
        found = Counter(hotel_of[pk] for pk in confirmed if pk in hotel_of)
        if decided.held[row] or len(found) != 1:
            continue
        rows.append(row)
        labels.append(next(iter(found)))
    keys = sorted({decided.keys[row] for row in rows})
    return decided.vectors[rows], np.array(labels, dtype=np.int64), keys


def pair_accuracy(decided: Decided | None, image_ids, vectors, apply) -> tuple[int, float | None]:
    """(pairs, share ordered right) over held-out queries' (confirmed, rejected) pairs.

    `vectors`: the gallery's raw vectors in `image_ids` order; `apply` maps raw vectors
    to the compared space (a whitening's `apply`, or the identity). None: no pairs.
    """
    if decided is None or not decided.held.any():
        return 0, None
    where = {pk: row for row, pk in enumerate(np.asarray(image_ids).tolist())}
    right = total = 0
    for row in np.flatnonzero(decided.held):
        confirmed = [where[pk] for pk in decided.confirmed[row] if pk in where]
        rejected = [where[pk] for pk in decided.rejected[row] if pk in where]
        if not confirmed or not rejected:
            continue
        query = apply(decided.vectors[row : row + 1])[0]
        scores = apply(vectors[confirmed + rejected]) @ query
        same, other = scores[: len(confirmed)], scores[len(confirmed) :]
        right += int((same[:, None] > other[None, :]).sum())
        total += len(same) * len(other)
    return total, (right / total if total else None)
