"""Following one version's searchable rows in the database: the in-process backends' base."""

import functools
import time

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, Subquery, Sum

from matcher.indexes import searchable_embeddings
from matcher.models import Embedding, IndexState, stacked_vectors
from rooms.models import RoomImage

FETCH_CHUNK = 5000
RECONCILE_SECONDS = 300  # full pass at most this often (see LiveRows)


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

    def follow(self, version: str, markers: tuple | None = None) -> None:
        """Bring the rows up to date with `version`'s searchable vectors (reset on a switch).

        `markers`: `markers()` as read by the caller a moment ago (`serving_state`)."""
        if version != self.version:
            self._reset(version)
        if not version:
            return
        stale = self.reconciled_at is None
        if stale or time.monotonic() - self.reconciled_at > RECONCILE_SECONDS:
            self.reconcile(markers)
        else:
            self.catch_up(markers)

    def markers(self) -> tuple[int, object]:
        """(largest embedding id, latest image status change): two index probes, one query
        (a round trip per search saved: ~1 ms at 1M on PostgreSQL)."""
        newest, changed = marker_subqueries()
        row = (
            Embedding.objects.filter(id=newest)
            .annotate(changed=changed)
            .values_list("id", "changed")
            .first()
        )
        if row is None:  # no vectors at all
            return 0, RoomImage.objects.aggregate(last=Max("status_changed_at"))["last"]
        return row

    def reconcile(self, markers: tuple | None = None) -> None:
        """Full pass: every searchable pair; new vectors read, missing rows dropped.

        The database first sums the pairs: when the sums match the rows held, nothing
        changed (1M photos on PostgreSQL: 0.36 s, against 2.2 s to list them all).
        """
        # Before the pairs: a change in between is seen next time.
        markers = self.markers() if markers is None else markers
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

    def catch_up(self, markers: tuple | None = None) -> None:
        """Only what changed since the markers: new vectors and newly searchable images."""
        markers = self.markers() if markers is None else markers
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


def serving_state() -> tuple[str, tuple | None]:
    """(the active version, `LiveRows.markers()`) from one statement; markers None when
    there is no vector yet (`markers()` then reads them).

    A search needs both before anything else: one round trip instead of two, and on
    PostgreSQL a statement compiled once (the ORM compiled these two queries on every
    search: ~0.8 ms of a 15 ms search at 1M photos).
    """
    if connection.vendor == "postgresql":
        sql, params = _state_statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    else:
        row = _state_query().first()
    if row is None:  # no state row yet
        return IndexState.get().active_version, None
    version, *markers = row
    return version, None if markers[0] is None else tuple(markers)


def marker_subqueries() -> tuple[Subquery, Subquery]:
    """The largest embedding id and the latest image status change, as subqueries."""
    newest = Embedding.objects.order_by("-id").values("id")[:1]
    changed = RoomImage.objects.order_by("-status_changed_at").values("status_changed_at")[:1]
    return Subquery(newest), Subquery(changed)


def _state_query() -> QuerySet:
    newest, changed = marker_subqueries()
    return (
        IndexState.objects.filter(pk=1)
        .annotate(newest=newest, changed=changed)
        .values_list("active_version", "newest", "changed")
    )


@functools.cache
def _state_statement() -> tuple[str, tuple]:
    return _state_query().query.sql_with_params()


def read_vectors(embedding_ids: np.ndarray):
    """(embedding ids, image ids, (n, D) float32) of these rows, in bounded chunks."""
    for start in range(0, len(embedding_ids), FETCH_CHUNK):  # bounded SQL parameter lists
        chunk = embedding_ids[start : start + FETCH_CHUNK].tolist()
        rows = list(Embedding.objects.filter(id__in=chunk).values_list("id", "image_id", "vector"))
        if rows:  # else deleted between the two queries
            vectors = stacked_vectors(vector for *_, vector in rows)
            yield [row[0] for row in rows], [row[1] for row in rows], vectors
