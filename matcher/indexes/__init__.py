"""Vector search over room-photo embeddings, behind a small interface.

Vectors live durably in the DB (`Embedding.vector`); an index is only a fast view of
the vectors of `IndexState.active_version` for the images that are searchable now.
Two backends chosen automatically from the database: an exact in-process NumPy index
(`exact.ExactIndex`: SQLite, or PostgreSQL without pgvector; also the oracle for recall
tests) and `pgvector.PgvectorIndex` (HNSW in PostgreSQL). A third is chosen by the
`MATCHER_INDEX_BACKEND` setting (a dotted path to a class): `graph.GraphIndex`, an HNSW
graph in process memory, for a million photos and more.

This root holds the interface, the factory and the shared types and selections; the
backends import it, never the other way (the factory names them by dotted path).
Below it: `sql` (pgvector's presence, vector literals), `projection` (PCA copies of
the vectors), `live_rows` (the in-process backends' base), then the backends.
"""

import threading
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from matcher.models import Embedding, IndexState
from rooms.models import RoomImage

EXACT_BACKEND = "matcher.indexes.exact.ExactIndex"
PGVECTOR_BACKEND = "matcher.indexes.pgvector.PgvectorIndex"
GRAPH_BACKEND = "matcher.indexes.graph.GraphIndex"
SHARED_BACKEND = "matcher.indexes.shared.SharedIndex"


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


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(id, score) of the k best finite scores, best first; ties broken by id."""
    return pairs_at(ids, scores, top_positions(ids, scores, k))


def pairs_at(ids: np.ndarray, scores: np.ndarray, positions: np.ndarray) -> list[tuple]:
    """(id, score) at `positions`, as plain Python values."""
    return list(zip(ids[positions].tolist(), scores[positions].tolist(), strict=True))


def top_positions(ids: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of `top_k`'s pairs in `ids` and `scores`."""
    valid = np.flatnonzero(np.isfinite(scores))
    if len(valid) > k:
        valid = valid[np.argpartition(-scores[valid], k - 1)[:k]]
    return valid[np.lexsort((ids[valid], -scores[valid]))]


_index = None
_index_lock = threading.Lock()


def reset_index() -> None:
    """Forget the process's index (tests: ids are reused after a rolled-back transaction)."""
    global _index
    with _index_lock:
        _index = None


def default_backend() -> str:
    """pgvector where the database has it (migration matcher.0002), else the exact index."""
    from matcher.indexes.sql import pgvector_available

    return PGVECTOR_BACKEND if pgvector_available() else EXACT_BACKEND


def get_index() -> VectorIndex:
    """The configured backend (`MATCHER_INDEX_BACKEND`, else auto), one per process."""
    global _index
    with _index_lock:
        if _index is None:
            backend = getattr(settings, "MATCHER_INDEX_BACKEND", None) or default_backend()
            _index = import_string(backend)()
        return _index
