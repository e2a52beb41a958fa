"""The exact backend: brute-force cosine over an in-memory matrix (also the recall oracle)."""

import threading

import numpy as np

from matcher.indexes import not_searchable, searchable_images, top_k
from matcher.indexes.live_rows import LiveRows, read_vectors
from matcher.models import IndexState


class ExactIndex(LiveRows):
    """Brute-force cosine search on an in-memory (N, D) float32 matrix.

    Loads on the first search, then follows the DB without rebuilding (`LiveRows`);
    the top-k of each search is checked against the DB, and rows that fail are
    dropped and the top-k taken again.
    """

    accepts_hotel_filter = True

    def __init__(self):
        self._lock = threading.Lock()
        self._reset("")

    def _reset(self, version: str) -> None:
        super()._reset(version)
        self.matrix = np.empty((0, 0), dtype=np.float32)  # a view of the first rows of _buffer
        self._buffer = None
        self._sorted = None  # (argsort of image_ids, sorted image_ids), built on demand

    def search(self, query, k, image_ids=None, hotels=None):
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if hotels is not None:
            allowed = searchable_images().filter(submission__hotel__in=hotels)
            image_ids = intersect(image_ids, allowed.values_list("pk", flat=True))
        with self._lock:
            self.sync()
            if len(self.image_ids) == 0 or k <= 0:
                return []
            if query.shape[0] != self.matrix.shape[1]:
                raise ValueError(
                    f"query has {query.shape[0]} dims, index {self.version!r} has "
                    f"{self.matrix.shape[1]}"
                )
            while True:
                results = self._top_k(query, k, image_ids)
                gone = not_searchable([image_id for image_id, _ in results])
                if not gone:
                    return results
                self.drop_images(gone)

    def _top_k(self, query, k, image_ids) -> list[tuple[int, float]]:
        if image_ids is None:
            return top_k(self.image_ids, self.matrix @ query, k)
        # Filter before top-k, so a filtered search still returns k results.
        rows = self.rows_of(np.asarray(image_ids, dtype=np.int64).reshape(-1))
        return top_k(self.image_ids[rows], self.matrix[rows] @ query, k)

    def rows_of(self, image_ids: np.ndarray) -> np.ndarray:
        """Matrix rows of these image ids (absent ones skipped): cost in len(image_ids)."""
        if self._sorted is None:
            order = np.argsort(self.image_ids, kind="stable")
            self._sorted = (order, self.image_ids[order])
        order, sorted_ids = self._sorted
        if len(sorted_ids) == 0 or len(image_ids) == 0:
            return np.empty(0, dtype=np.int64)
        positions = np.minimum(np.searchsorted(sorted_ids, image_ids), len(sorted_ids) - 1)
        return order[positions[sorted_ids[positions] == image_ids]]

    def sync(self) -> None:
        self.follow(IndexState.get().active_version)

    def _drop(self, gone: np.ndarray) -> None:
        if not gone.any():
            return
        self.embedding_ids = self.embedding_ids[~gone]
        self.image_ids = self.image_ids[~gone]
        self.matrix = self._buffer = self.matrix[~gone]  # compacted copy (removals are rare)
        self._sorted = None

    def _add(self, embedding_ids: np.ndarray) -> None:
        for ids, image_ids, vectors in read_vectors(embedding_ids):
            self._append(vectors, ids, image_ids)

    def _append(self, vectors: np.ndarray, embedding_ids: list, image_ids: list) -> None:
        """Rows at the end of a buffer grown by half when full: no full copy per upload."""
        n, total = len(self.image_ids), len(self.image_ids) + len(vectors)
        if self._buffer is None or self._buffer.shape[1] != vectors.shape[1]:
            self._buffer = np.empty((max(total, 1024), vectors.shape[1]), dtype=np.float32)
            self._buffer[:n] = self.matrix[:n] if n else 0
        elif total > len(self._buffer):
            grown = np.empty((max(total, len(self._buffer) * 3 // 2), vectors.shape[1]), np.float32)
            grown[:n] = self._buffer[:n]
            self._buffer = grown
        self._buffer[n:total] = vectors
        self.matrix = self._buffer[:total]
        self.embedding_ids = np.concatenate([self.embedding_ids, embedding_ids]).astype(np.int64)
        self.image_ids = np.concatenate([self.image_ids, image_ids]).astype(np.int64)
        self._sorted = None


def intersect(image_ids, more) -> np.ndarray:
    allowed = np.fromiter(more, dtype=np.int64)
    if image_ids is None:
        return allowed
    return np.intersect1d(allowed, np.asarray(image_ids, dtype=np.int64))
