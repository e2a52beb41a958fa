"""Vector search over room-photo embeddings, behind a small interface.

Vectors live durably in the DB (`Embedding.vector`); an index is only a fast view of
the vectors of `IndexState.active_version` for the images that are searchable now.
The default backend is an exact in-process NumPy index; a pgvector backend can be
swapped in with the `MATCHER_INDEX_BACKEND` setting (a dotted path to a class).
"""

import threading
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from matcher.models import Embedding, IndexState
from rooms.models import RoomImage

DEFAULT_BACKEND = "matcher.index.ExactIndex"
FETCH_CHUNK = 5000


class VectorIndex(Protocol):
    def search(
        self, query: np.ndarray, k: int, image_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (image_id, cosine similarity), best first; only among `image_ids` if given."""
        ...


def searchable_images() -> QuerySet:
    """Images the search may return: embedded, not hidden or flagged, with an active vector."""
    return RoomImage.objects.filter(
        status=RoomImage.Status.EMBEDDED,
        flagged_reason="",
        embeddings__model_version=IndexState.get().active_version,
    )


def row_keys(embedding_ids: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """One int64 per (embedding, image) pair (injective while ids stay below 2**31)."""
    return (embedding_ids.astype(np.int64) << 32) ^ image_ids.astype(np.int64)


class ExactIndex:
    """Brute-force cosine search on an in-memory (N, D) float32 matrix.

    Loads on the first search. Each search syncs with the DB cheaply: one query for
    the (embedding id, image id) pairs that are searchable now, vectors fetched only
    for pairs not seen before, and rows that are no longer searchable dropped. So
    new, hidden, flagged and deleted images show up in every process without a rebuild.
    Rows are identified by (embedding id, image id), so a re-created vector is re-read.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._reset("")

    def _reset(self, version: str) -> None:
        self.version = version
        self.embedding_ids = np.empty(0, dtype=np.int64)
        self.image_ids = np.empty(0, dtype=np.int64)
        self.matrix = np.empty((0, 0), dtype=np.float32)

    def search(self, query, k, image_ids=None):
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            self.sync()
            if len(self.image_ids) == 0 or k <= 0:
                return []
            if query.shape[0] != self.matrix.shape[1]:
                raise ValueError(
                    f"query has {query.shape[0]} dims, index {self.version!r} has "
                    f"{self.matrix.shape[1]}"
                )
            scores = self.matrix @ query
            ids = self.image_ids
        if image_ids is not None:
            # Filter before top-k, so a filtered search still returns k results.
            scores = np.where(np.isin(ids, np.asarray(image_ids)), scores, -np.inf)
        return top_k(ids, scores, k)

    def sync(self) -> None:
        version = IndexState.get().active_version
        if version != self.version:
            self._reset(version)
        if not version:
            return
        pairs = np.array(
            Embedding.objects.filter(
                model_version=version,
                image__status=RoomImage.Status.EMBEDDED,
                image__flagged_reason="",
            ).values_list("id", "image_id"),
            dtype=np.int64,
        ).reshape(-1, 2)
        current = row_keys(pairs[:, 0], pairs[:, 1])
        known = row_keys(self.embedding_ids, self.image_ids)
        keep = np.isin(known, current)
        if not keep.all():
            self._drop(~keep)
        new = pairs[~np.isin(current, known)]
        if len(new):
            self._add(new[:, 0])

    def _drop(self, gone: np.ndarray) -> None:
        self.embedding_ids = self.embedding_ids[~gone]
        self.image_ids = self.image_ids[~gone]
        self.matrix = self.matrix[~gone]

    def _add(self, embedding_ids: np.ndarray) -> None:
        ids, images, vectors = [], [], []
        for start in range(0, len(embedding_ids), FETCH_CHUNK):  # bounded SQL parameter lists
            chunk = embedding_ids[start : start + FETCH_CHUNK].tolist()
            rows = Embedding.objects.filter(id__in=chunk).values_list("id", "image_id", "vector")
            for embedding_id, image_id, vector in rows:
                ids.append(embedding_id)
                images.append(image_id)
                vectors.append(np.frombuffer(bytes(vector), dtype="<f4"))
        if not vectors:  # deleted between the two queries
            return
        added = np.stack(vectors).astype(np.float32, copy=False)
        if self.matrix.size:
            added = np.vstack([self.matrix, added])
        self.matrix = added
        self.embedding_ids = np.concatenate([self.embedding_ids, ids]).astype(np.int64)
        self.image_ids = np.concatenate([self.image_ids, images]).astype(np.int64)


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(id, score) of the k best finite scores, best first; ties broken by id."""
    valid = np.flatnonzero(np.isfinite(scores))
    if len(valid) > k:
        valid = valid[np.argpartition(-scores[valid], k - 1)[:k]]
    order = valid[np.lexsort((ids[valid], -scores[valid]))]
    return [(int(ids[i]), float(scores[i])) for i in order]


_index = None
_index_lock = threading.Lock()


def reset_index() -> None:
    """Forget the process's index (tests: ids are reused after a rolled-back transaction)."""
    global _index
    with _index_lock:
        _index = None


def get_index() -> VectorIndex:
    """The configured backend, one instance per process."""
    global _index
    with _index_lock:
        if _index is None:
            backend = getattr(settings, "MATCHER_INDEX_BACKEND", DEFAULT_BACKEND)
            _index = import_string(backend)()
        return _index
