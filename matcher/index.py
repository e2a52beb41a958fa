"""Vector search over room-photo embeddings, behind a small interface.

Vectors live durably in the DB (`Embedding.vector`); an index is only a fast view of
the vectors of `IndexState.active_version` for the images that are searchable now.
Two backends chosen automatically from the database: an exact in-process NumPy index
(SQLite, or PostgreSQL without pgvector; also the oracle for recall tests) and
`matcher.pgvector_index.PgvectorIndex` (HNSW in PostgreSQL). A third is chosen by the
`MATCHER_INDEX_BACKEND` setting (a dotted path to a class):
`matcher.graph_index.GraphIndex`, an HNSW graph in process memory, for a million
photos and more.
"""

import threading
import time
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils.module_loading import import_string

from matcher.models import Embedding, IndexState
from rooms.models import RoomImage

EXACT_BACKEND = "matcher.index.ExactIndex"
PGVECTOR_BACKEND = "matcher.pgvector_index.PgvectorIndex"
GRAPH_BACKEND = "matcher.graph_index.GraphIndex"
FETCH_CHUNK = 5000
RECONCILE_SECONDS = 300  # ExactIndex: full pass at most this often (see its docstring)


class VectorIndex(Protocol):
    def search(
        self, query: np.ndarray, k: int, image_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (image_id, cosine similarity), best first; only among `image_ids` if given.

        Backends with `accepts_hotel_filter = True` also take `hotels=` (a Hotel
        queryset) and restrict the search to those hotels' images themselves.
        """
        ...


class Neighbours(list):
    """(image_id, similarity) pairs, best first, as `VectorIndex.search` returns them.

    `owners`: {image_id: (hotel_id, chain_id)} when the backend read them in the same
    query (pgvector), so the ranking skips a query; None when it did not.
    """

    def __init__(self, pairs=(), owners: dict | None = None):
        super().__init__(pairs)
        self.owners = owners


def live_images() -> QuerySet:
    """Images not hidden, flagged or deleted, whose embedding is done."""
    return RoomImage.objects.filter(status=RoomImage.Status.EMBEDDED, flagged_reason="")


def searchable_images() -> QuerySet:
    """Images the search may return: live, with a vector of the active version."""
    return live_images().filter(embeddings__model_version=IndexState.get().active_version)


def row_keys(embedding_ids: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """One int64 per (embedding, image) pair (injective while ids stay below 2**31)."""
    return (embedding_ids.astype(np.int64) << 32) ^ image_ids.astype(np.int64)


class LiveRows:
    """The searchable (embedding id, image id) rows of one version, followed in the DB.

    Base of the in-process backends: subclasses keep what they index for these rows
    (a matrix, a graph) in step through `_add(embedding_ids)` and `_drop(mask)`, at a
    cost that does not grow with N on most searches:

    - new: each search reads the vectors with an id above the largest one seen, and
      the images whose `status_changed_at` moved past the last one seen (embedded,
      un-hidden); two index probes and, usually, an empty range query.
    - gone (hidden, flagged, deleted, even by a bare `.update()`): every search checks
      its results against the DB, so they never come back (the exact index then drops
      those rows; the graph's re-scoring skips them until the next full pass).
    - everything else (a flag cleared without touching `status_changed_at`): a full
      reconciliation of the (embedding id, image id) pairs every `RECONCILE_SECONDS`
      and on first load; about 1 s per million rows on SQLite.
    """

    def _reset(self, version: str) -> None:
        self.version = version
        self.embedding_ids = np.empty(0, dtype=np.int64)
        self.image_ids = np.empty(0, dtype=np.int64)
        self.reconciled_at = None  # time.monotonic() of the last full reconciliation
        self.last_embedding_id = 0
        self.last_status_change = None

    def follow(self, version: str) -> None:
        """Bring the rows up to date with `version`'s searchable vectors (reset on a switch)."""
        if version != self.version:
            self._reset(version)
        if not version:
            return
        stale = self.reconciled_at is None
        if stale or time.monotonic() - self.reconciled_at > RECONCILE_SECONDS:
            self.reconcile()
        else:
            self.catch_up()

    def markers(self) -> tuple[int, object]:
        """(largest embedding id, latest image status change): both index probes."""
        last_id = Embedding.objects.aggregate(last=Max("id"))["last"] or 0
        changed = RoomImage.objects.aggregate(last=Max("status_changed_at"))["last"]
        return last_id, changed

    def reconcile(self) -> None:
        """Full pass: every searchable pair; new vectors read, missing rows dropped.

        The database first sums the pairs: when the sums match the rows held, nothing
        changed (1M photos on PostgreSQL: 0.36 s, against 2.2 s to list them all).
        """
        markers = self.markers()  # before the pairs: a change in between is seen next time
        searchable = searchable_embeddings(self.version)
        if not self._same_rows(searchable):
            self._apply(self._pairs(searchable))
        self.last_embedding_id, self.last_status_change = markers
        self.reconciled_at = time.monotonic()

    def _same_rows(self, searchable: QuerySet) -> bool:
        sums = searchable.aggregate(rows=Count("id"), ids=Sum("id"), images=Sum("image_id"))
        held = (len(self.image_ids), int(self.embedding_ids.sum()), int(self.image_ids.sum()))
        return (sums["rows"], sums["ids"] or 0, sums["images"] or 0) == held

    def _apply(self, pairs: np.ndarray) -> None:
        """Make the rows held exactly `pairs` (embedding id, image id)."""
        current = row_keys(pairs[:, 0], pairs[:, 1])
        known = row_keys(self.embedding_ids, self.image_ids)
        keep = np.isin(known, current)
        if not keep.all():
            self._drop(~keep)
        new = pairs[~np.isin(current, known)]
        if len(new):
            self._add(new[:, 0])

    def catch_up(self) -> None:
        """Only what changed since the markers: new vectors and newly searchable images."""
        markers = self.markers()
        if markers == (self.last_embedding_id, self.last_status_change):
            return
        recent = Q(id__gt=self.last_embedding_id)
        if self.last_status_change is not None:
            recent |= Q(image__status_changed_at__gte=self.last_status_change)
        pairs = self._pairs(searchable_embeddings(self.version).filter(recent))
        known = row_keys(self.embedding_ids, self.image_ids)
        new = pairs[~np.isin(row_keys(pairs[:, 0], pairs[:, 1]), known)]
        if len(new):
            # One vector per (image, version): an older row of the same image is stale.
            self._drop(np.isin(self.image_ids, new[:, 1]))
            self._add(new[:, 0])
        self.last_embedding_id, self.last_status_change = markers

    def drop_images(self, image_ids) -> None:
        """Forget the rows of these images (found gone by a search)."""
        self._drop(np.isin(self.image_ids, list(image_ids)))

    @staticmethod
    def _pairs(embeddings: QuerySet) -> np.ndarray:
        rows = embeddings.values_list("id", "image_id")
        return np.array(rows, dtype=np.int64).reshape(-1, 2)

    def _drop(self, gone: np.ndarray) -> None:
        raise NotImplementedError

    def _add(self, embedding_ids: np.ndarray) -> None:
        raise NotImplementedError


def read_vectors(embedding_ids: np.ndarray):
    """(embedding ids, image ids, (n, D) float32) of these rows, in bounded chunks."""
    for start in range(0, len(embedding_ids), FETCH_CHUNK):  # bounded SQL parameter lists
        chunk = embedding_ids[start : start + FETCH_CHUNK].tolist()
        rows = list(Embedding.objects.filter(id__in=chunk).values_list("id", "image_id", "vector"))
        if rows:  # else deleted between the two queries
            vectors = np.stack([np.frombuffer(bytes(vector), dtype="<f4") for *_, vector in rows])
            yield [row[0] for row in rows], [row[1] for row in rows], vectors


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


def searchable_embeddings(version: str) -> QuerySet:
    return Embedding.objects.filter(
        model_version=version,
        image__status=RoomImage.Status.EMBEDDED,
        image__flagged_reason="",
    )


def not_searchable(image_ids: list[int]) -> set[int]:
    """Those of `image_ids` that are no longer searchable (hidden, flagged or deleted)."""
    if not image_ids:
        return set()
    still = live_images().filter(pk__in=image_ids).values_list("pk", flat=True)
    return set(image_ids) - set(still)


def intersect(image_ids, more) -> np.ndarray:
    allowed = np.fromiter(more, dtype=np.int64)
    if image_ids is None:
        return allowed
    return np.intersect1d(allowed, np.asarray(image_ids, dtype=np.int64))


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


def default_backend() -> str:
    """pgvector where the database has it (migration matcher.0002), else the exact index."""
    from matcher.pgvector_index import pgvector_available

    return PGVECTOR_BACKEND if pgvector_available() else EXACT_BACKEND


def get_index() -> VectorIndex:
    """The configured backend (`MATCHER_INDEX_BACKEND`, else auto), one per process."""
    global _index
    with _index_lock:
        if _index is None:
            backend = getattr(settings, "MATCHER_INDEX_BACKEND", None) or default_backend()
            _index = import_string(backend)()
        return _index
