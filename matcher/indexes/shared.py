"""`SharedIndex`: a memory-mapped snapshot every process shares, filtered in the walk.

Why (docs/benchmarks.md, issue "filtered search at scale"): at a million photos the
in-process hnswlib graph (`GraphIndex`) cost each web process ~1.3 GB, re-scored its
shortlist in the database (most of its 22 ms), and sent every filtered search to
pgvector (74-128 ms). Here:

- One snapshot per machine (`matcher.indexes.snapshot`), mapped by every process.
- Live as the other in-process backends (`LiveRows`): rows hidden or deleted since the
  build are masked out (`dead`); rows added since are a small exact `Delta` per process.
- Filters select rows without the database where they can: rows are sorted by
  (country, city, hotel), so a country or a city is a range; a chain is a comparison
  over a mapped column; a radius or a name goes through the hotels table once, then
  to the hotels' row ranges. Few rows (`EXACT_ROWS`): an exact scan of just those rows;
  more: the FAISS graph walk with an `IDSelectorBitmap`, evaluated in native code.
- The shortlist is re-scored with the snapshot's full float32 vectors, in process;
  each row's hotel and chain come from the snapshot (or the delta), and one
  primary-key query checks the results are still live (a hidden or withdrawn photo
  never comes back). A hotel moved to another chain keeps its old chain in the
  ranking until the next build (nightly); the shown details are always read fresh.
- A new build is noticed by one `stat` per search, opened and caught up in a
  background thread while searches go on with the old one, then swapped in whole.
"""

import contextlib
import copy
import functools
import logging
import threading
import weakref

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

from matcher.indexes import (
    Neighbours,
    default_backend,
    live_images,
    pairs_at,
    searchable_embeddings,
    top_positions,
)
from matcher.indexes import snapshot as snapshots
from matcher.indexes.live_rows import FETCH_CHUNK, LiveRows, serving_state
from matcher.indexes.sql import IdsStatement, can_pipeline, many_ids, pipelined
from matcher.models import Embedding, stacked_vectors
from retrieval.context import blended_cosines, scores_from_table
from rooms.selectors import HotelFilters, hotels_filtered

logger = logging.getLogger(__name__)

EXACT_ROWS = 20_000  # at or below: scan those rows exactly (city: ~2 ms at 1M, no walk)
AUTO_BUILD_ROWS = 20_000  # a gallery this small is snapshotted by the first search
DELTA_WARN_ROWS = 100_000  # each search scans the delta exactly: warn as it grows
# A set of photos (`turns` per photo): each turn is first probed this deep, and only the
# turns within TURN_MARGIN of their photo's best probe are walked in full. On hotel rooms
# the upright turn wins 98 % of a query's top-10 images and a margin of 0.1 leaves
# 0.02 % of them to a turn not walked, 1.4 turns walked of 4 (docs/benchmarks.md, "Index
# at scale", photo sets).
PROBE_EF = 64
TURN_MARGIN = 0.1
# An unfiltered walk looks `shortlist` deep (efSearch 800 over the graph's 8-bit codes:
# recall@100 0.994 at 1M), but only its best RESCORED_ROWS by the walk's own scores are
# read and re-scored exactly: at 1M the exact top-200 of the best 400 equal those of all
# 800 in 96 of 100 queries (of all 700 in 50 of 50 on the float graph), the pages the
# exact index's as often as before (docs/benchmarks.md, eighteenth session), and
# reading 700 rows of 5 KB scattered over the mapped file was the search's second
# largest step. Not in a filtered search: past the query's own hotel, a filter's nearest
# rows are near-ties the projection orders poorly (recall@100 at 1M, city 0.971 against
# 0.994; docs/benchmarks-history.md, sixteenth session).
RESCORED_ROWS = 400


class SharedIndex:
    """`VectorIndex` over the served snapshot (see the module docstring)."""

    accepts_filters = True
    budgets_sets = True  # search_many(turns=...): see `View.probe_turns`
    # search_many(check_live=False): results not checked for liveness, for a caller that
    # re-reads the photos it keeps (hotel context checks every photo it scores)
    live_check_optional = True

    def __init__(self, shortlist: int | None = None):
        self.shortlist = shortlist or settings.MATCHER_SHARED_SHORTLIST
        self.view = None  # the `View` searches use; replaced whole, never edited in place
        self.marker = None  # `snapshot.current_marker` of the view's build
        self._swap_lock = threading.Lock()
        self._loading = None  # the thread opening a newer build
        self._missing = None  # (version, marker) found without a build: not counted again
        self._fallback = None
        # .view: a weak reference to the view this thread last searched (weak: a build
        # swapped out is not kept mapped by a thread that stopped searching)
        self._searched = threading.local()

    @property
    def fallback(self):
        """The database backend, until a snapshot exists for the active version."""
        if self._fallback is None:
            self._fallback = import_string(default_backend())()
        return self._fallback

    def search(self, query, k, image_ids=None, filters: HotelFilters | None = None):
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        return self.search_many(query[None, :], k, image_ids=image_ids, filters=filters)[0]

    def search_many(
        self,
        queries,
        k,
        image_ids=None,
        filters: HotelFilters | None = None,
        turns: int = 0,
        check_live: bool = True,
    ):
        """`search` for each of the (Q, D) `queries`, sharing everything but the walks.

        `turns`: the queries are the photos of a set, `turns` consecutive rows each (a
        photo's views): the walks are budgeted per photo (`PROBE_EF`, `TURN_MARGIN`).
        `check_live=False`: a photo hidden since the last catch-up may still be among
        the results (one database query less; `photos_in_context` checks what it scores).
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        version, markers = serving_state()
        view = self.current_view(version)
        self._searched.view = None if view is None else weakref.ref(view)
        if view is None:
            hotels = None if filters is None or not filters.active else hotels_filtered(filters)
            return [
                self.fallback.search(query, k, image_ids=image_ids, hotels=hotels)
                for query in queries
            ]
        return view.search(
            queries, k, self.shortlist, filters, image_ids, turns, check_live, markers
        )

    def photos_in_context(self, hotel_ids, turns):
        """(image ids, hotel ids, chain ids (-1: none), best-turn cosines, best-turn scores
        in context) of these hotels' live photos against the (T, D) query turns, from the
        mapped snapshot; None when no snapshot is served (see `matcher.context`).

        Read from the view this thread's last search used, a build current a moment ago
        (the active version is not looked up again); None once that view is gone (the
        caller then reads the database)."""
        view = getattr(self._searched, "view", None)
        view = None if view is None else view()
        if view is None:
            return None
        return view.photos_in_context(np.asarray(hotel_ids, np.int64), turns)

    def current_view(self, version: str):
        """The view to search now, opening a newer build in the background if any."""
        if not version:
            return None
        marker = snapshots.current_marker(version)
        view = self.view
        if view is not None and view.version == version:
            if marker != self.marker:
                with self._swap_lock:
                    if self._loading is None and marker != self.marker:
                        self._start_loading(version, marker)
            return view
        with self._swap_lock:  # first search, or a new model version: open it now
            if self._missing == (version, marker):
                return None  # no build yet for this version, and the gallery is too large
            if self.view is None or self.view.version != version:
                self.view = self._open(version)
                self.marker = snapshots.current_marker(version)  # after a build by `_open`
                self._missing = (version, self.marker) if self.view is None else None
            return self.view

    def _open(self, version):
        """A view of `version`'s served build (built here if the gallery is small), or None:
        then the database answers, until `manage.py shared_index` serves one."""
        try:
            snapshot = snapshots.open_current(version)
            if snapshot is None:
                if searchable_embeddings(version)[: AUTO_BUILD_ROWS + 1].count() > AUTO_BUILD_ROWS:
                    return None
                snapshots.build_if_missing(version)
                snapshot = snapshots.open_current(version)
        except (OSError, RuntimeError, ValueError, KeyError):  # a missing or damaged build
            logger.exception("cannot open the snapshot of %s: searching the database", version)
            return None
        view = View(snapshot)
        view.sync()
        threading.Thread(target=snapshot.warm, name="snapshot-warm", daemon=True).start()
        return view

    def _start_loading(self, version, marker):
        def load():
            try:
                view = View(snapshots.open_current(version))
                view.sync()  # catch up on the database before anyone searches it
                view.snapshot.warm()
                with self._swap_lock:
                    if self.view is not None and self.view.version == version:
                        self.view, self.marker = view, marker  # the swap: one reference
            except Exception:  # logged; searches go on with the old view
                logger.exception("cannot open the new snapshot of %s", version)
                self.marker = marker  # not retried until another build is served
            finally:
                self._loading = None
                connection.close()  # this thread's own connection

        self._loading = threading.Thread(target=load, name="snapshot-loader", daemon=True)
        self._loading.start()


class Delta:
    """Rows added since the build, in this process: full vectors and owners, scanned exactly.

    Immutable: `added` and `without` return a new delta, which `View` swaps in whole, so
    a search reading `view.delta` once never sees it half-updated by another thread.
    """

    def __init__(self, dim: int):
        self.vectors = np.empty((0, dim), dtype=np.float32)
        self.image_ids = np.empty(0, dtype=np.int64)
        self.hotel_ids = np.empty(0, dtype=np.int64)
        self.chain_ids = np.empty(0, dtype=np.int64)
        self.alive = np.empty(0, dtype=bool)
        self.places = []  # (country, folded city) per row

    def added(self, image_ids, vectors, owners) -> "Delta":
        """This delta and the rows of `image_ids`, `owners`: (hotel, chain, country, city)."""
        new = copy.copy(self)
        new.vectors = np.concatenate([self.vectors, vectors.astype(np.float32)])
        new.image_ids = np.concatenate([self.image_ids, np.asarray(image_ids, np.int64)])
        new.hotel_ids = np.concatenate([self.hotel_ids, [row[0] for row in owners]])
        chains = [-1 if row[1] is None else row[1] for row in owners]
        new.chain_ids = np.concatenate([self.chain_ids, chains]).astype(np.int64)
        new.alive = np.concatenate([self.alive, np.ones(len(owners), dtype=bool)])
        new.places = self.places + [(row[2], snapshots.fold(row[3])) for row in owners]
        return new

    def without(self, positions: np.ndarray) -> "Delta":
        new = copy.copy(self)
        new.alive = self.alive.copy()
        new.alive[positions] = False
        return new

    def rows(self, filters, hotel_ids, image_ids=None) -> np.ndarray:
        """Live delta rows passing the filters (`hotel_ids`: the hotels, when read from
        the DB), and among `image_ids` when given."""
        keep = self.alive.copy()
        if image_ids is not None:
            keep &= np.isin(self.image_ids, np.asarray(image_ids, dtype=np.int64))
        if hotel_ids is not None:
            keep &= np.isin(self.hotel_ids, hotel_ids)
        elif filters is not None and filters.active:
            country, city = filters.country.upper(), snapshots.fold(filters.city)
            keep &= np.array(
                [(not country or c == country) and (not city or t == city) for c, t in self.places],
                dtype=bool,
            ).reshape(-1)
            if filters.chain is not None:
                keep &= self.chain_ids == filters.chain.pk
        return np.flatnonzero(keep)


def read_rows(embedding_ids: np.ndarray):
    """(embedding ids, image ids, (n, D) vectors, owners) of these rows, in bounded chunks;
    owners (hotel, chain, country, city) read in the same query as the vectors."""
    hotel = "image__submission__hotel"
    for start in range(0, len(embedding_ids), FETCH_CHUNK):
        chunk = embedding_ids[start : start + FETCH_CHUNK].tolist()
        rows = list(
            Embedding.objects.filter(id__in=chunk).values_list(
                "id", "image_id", "vector", f"{hotel}_id", f"{hotel}__chain_id",
                f"{hotel}__country_code", f"{hotel}__city",
            )
        )  # fmt: skip
        if rows:  # else deleted between the two queries
            vectors = stacked_vectors(row[2] for row in rows)
            yield [r[0] for r in rows], [r[1] for r in rows], vectors, [r[3:] for r in rows]


class View(LiveRows):
    """A snapshot followed in the database: `dead` rows masked, new rows in a `Delta`.

    `LiveRows` holds one slot per searchable row: >= 0 a snapshot row, < 0 a delta row.
    """

    def __init__(self, snapshot: snapshots.Snapshot):
        self.snapshot = snapshot
        self.lock = threading.Lock()
        self._reset(snapshot.version)

    def _reset(self, version: str) -> None:
        super()._reset(version)
        snapshot = self.snapshot
        self.embedding_ids = np.array(snapshot.embedding_ids)  # private copies: they shrink
        self.image_ids = np.array(snapshot.image_ids)
        self.slots = np.arange(len(snapshot), dtype=np.int64)
        self.dead = np.zeros(len(snapshot), dtype=bool)
        self.delta = Delta(snapshot.dim)

    def sync(self) -> None:
        with self.lock:
            self.follow(self.version)

    # --- searching ---

    def search(
        self, queries, k, shortlist, filters, image_ids=None, turns=0, check_live=True, markers=None
    ) -> list[Neighbours]:
        """Top-k of each of the (Q, D) `queries` (the turns of a photo, the photos of a set).

        One catch-up, one selection, one walk call, one read of the candidates' vectors
        and one liveness query serve every query: a set costs less than its searches apart.
        `markers`: `serving_state`'s, read with the active version.
        """
        if queries.shape[1] != self.snapshot.dim:
            raise ValueError(
                f"query has {queries.shape[1]} dims, index {self.version!r} has {self.snapshot.dim}"
            )
        with self.lock:
            self.follow(self.version, markers)
        if k <= 0:
            return [Neighbours([], owners={}) for _ in queries]
        while True:
            size = max(shortlist, k + k // 2)
            found, owners = self._top_k(queries, k, size, filters, image_ids, turns)
            # Liveness only (owners come with the rows): one primary-key probe per result.
            gone = (still_gone(list(owners)) if check_live else set()) | moved_out(owners, filters)
            if not gone:
                return [
                    Neighbours(pairs, owners={pk: owners[pk] for pk, _ in pairs}) for pairs in found
                ]
            with self.lock:
                self.drop_images(gone)

    def _top_k(self, queries, k, size, filters, image_ids, turns=0):
        """(each query's top-k, {image id: (hotel id, chain id)} of the images in them)."""
        selection = self.selection(filters, image_ids)
        # The union of every query's candidates, read once and in file order.
        keep = size if selection.rows is not None else min(size, max(RESCORED_ROWS, k + k // 2))
        rows = np.unique(self.snapshot_candidates(queries, size, keep, selection, turns))
        snapshot, delta = self.snapshot, self.delta  # each read once: swapped, never edited
        delta_rows = delta.rows(filters, selection.hotel_ids, image_ids)
        ids = np.concatenate([snapshot.image_ids[rows], delta.image_ids[delta_rows]])
        # Exact: the full float32 vectors (ranked by the graph's projections instead, 27-55 %
        # of pages at 1M kept the exact index's top-10 hotels, against 93 %:
        # docs/benchmarks-history.md, fifteenth session), the mapped ones read in place. The
        # delta's by einsum, not BLAS: OpenBLAS's threads wait on busy cores (9 ms
        # against 23 ms for 700 rows at 1M on 2 shared cores).
        scores = np.concatenate(
            [
                snapshots.inner_products(snapshot.vectors, rows, queries),
                np.einsum("nd,qd->nq", delta.vectors[delta_rows], queries),
            ]
        )
        tops = [top_positions(ids, scores[:, q], k) for q in range(len(queries))]
        found = [pairs_at(ids, scores[:, q], top) for q, top in enumerate(tops)]
        # Owners of the images kept only: a gather of ~200 rows, not of the shortlist
        kept = np.unique(np.concatenate([np.empty(0, np.int64), *tops]))
        hotels = stacked(snapshot.hotel_ids, delta.hotel_ids, rows, delta_rows, kept)
        chains = stacked(snapshot.chain_ids, delta.chain_ids, rows, delta_rows, kept)
        owned = zip(ids[kept].tolist(), hotels.tolist(), chains.tolist(), strict=True)
        owners = {pk: (hotel, None if chain < 0 else chain) for pk, hotel, chain in owned}
        return found, owners

    def photos_in_context(self, hotel_ids: np.ndarray, turns: np.ndarray):
        """See `SharedIndex.photos_in_context`. The hotels' rows are contiguous (rows are
        sorted by hotel); a hotel as built is scored from the snapshot's neighbour table
        (a gather), one with a photo hidden or added since is blended anew."""
        snapshot, delta = self.snapshot, self.delta
        rows = np.sort(ranges_rows(snapshot.hotel_rows(np.sort(hotel_ids))))
        extra = delta.rows(None, hotel_ids)
        ids = np.concatenate([snapshot.image_ids[rows], delta.image_ids[extra]])
        hotels = np.concatenate([snapshot.hotel_ids[rows], delta.hotel_ids[extra]])
        live = np.concatenate([~self.dead[rows], np.ones(len(extra), dtype=bool)])
        # Hidden since the last catch-up noticed: one primary-key probe, as for results,
        # answered while the vectors are read and scored (all of them: few are gone).
        with liveness_probe(ids[live].tolist()) as probe:
            cosines = np.concatenate(
                [
                    snapshots.inner_products(snapshot.vectors, rows, turns),
                    np.einsum("nd,td->nt", delta.vectors[extra], turns),  # einsum: see `_top_k`
                ]
            )
            scores = self._context_scores(rows, extra, delta, hotels, live, cosines, turns)
            gone = probe()
        if gone:  # rare: their hotels blended anew without them
            with self.lock:
                self.drop_images(gone)
            live &= ~np.isin(ids, np.fromiter(gone, np.int64, len(gone)))
            scores = self._context_scores(rows, extra, delta, hotels, live, cosines, turns)
        chains = np.concatenate([snapshot.chain_ids[rows], delta.chain_ids[extra]])
        best = cosines[live].max(axis=1), scores[live].max(axis=1)  # each photo's best turn
        return ids[live], hotels[live], chains[live], *best

    def _context_scores(self, rows, extra, delta, hotels, live, cosines, turns) -> np.ndarray:
        """Each photo's scores in its hotel's context against the turns, for
        `photos_in_context` (snapshot `rows`, then `delta`'s rows `extra`): a hotel as
        built gathered from the snapshot's neighbour table, one with a photo gone or added
        since blended anew from the full vectors of its photos (only theirs are read)."""
        snapshot = self.snapshot
        changed = np.isin(hotels, np.concatenate([hotels[~live], hotels[len(rows) :]]))
        if snapshot.context is None:
            changed[:] = True
        scores = np.empty_like(cosines)
        built = np.flatnonzero(~changed[: len(rows)])
        if len(built):
            table = np.asarray(snapshot.context[rows[built]], dtype=np.int64)
            positions = np.where(table >= 0, np.searchsorted(rows, table), -1)
            norms = snapshot.context_norms[rows[built]]
            scores[built] = scores_from_table(cosines, built, positions, norms)
        anew = np.flatnonzero(changed & live)
        vectors = stacked(snapshot.vectors, delta.vectors, rows, extra, anew)
        scores[anew] = blended_cosines(vectors, hotels[anew], turns)
        return scores

    def selection(self, filters, image_ids) -> "Selection":
        """Snapshot rows allowed by the filters (None: all), and the hotels when queried."""
        snapshot = self.snapshot
        if image_ids is not None:  # backends' shared tests; search.py passes filters
            wanted = np.asarray(image_ids, dtype=np.int64)
            return Selection(np.flatnonzero(np.isin(snapshot.image_ids, wanted)), None)
        if filters is None or not filters.active:
            return Selection(None, None)
        if filters.q.strip() or filters.near is not None:  # names, distances: the database
            hotel_ids = np.fromiter(hotels_filtered(filters).values_list("pk", flat=True), np.int64)
            return Selection(ranges_rows(snapshot.hotel_rows(hotel_ids)), hotel_ids)
        rows = None
        if filters.country or filters.city:
            rows = ranges_rows(snapshot.place_ranges(filters.country, filters.city))
        if filters.chain is not None and rows is None:
            rows = snapshot.chain_rows(filters.chain.pk)
        elif filters.chain is not None:  # within a place: only its rows compared
            rows = rows[np.asarray(snapshot.chain_ids[rows]) == filters.chain.pk]
        return Selection(rows, None)

    def snapshot_candidates(self, queries, size, keep, selection, turns=0) -> np.ndarray:
        """Snapshot rows to re-score: each query's best `keep` of the `size` nearest
        allowed (by the walk's scores), or all allowed when they are `size` or fewer."""
        rows = selection.rows
        if rows is not None:
            rows = rows[~self.dead[rows]]
            if len(rows) <= size:
                return rows
            if len(rows) <= EXACT_ROWS:
                return self.scan(queries, keep, rows)
        probed, walked = np.empty(0, dtype=np.int64), queries
        if turns > 1 and len(queries) > turns:  # a set of photos, several turns each
            probed, chosen = self.probe_turns(queries, turns, rows)
            walked = queries[chosen]
        labels = np.concatenate([probed, self.walk(walked, keep, rows, ef=size)])
        if rows is not None and (labels < 0).any():
            # The filtered walk found fewer than `keep` allowed rows (a few % of the
            # gallery, clustered away from the query): read as "no more", it would cut
            # the search short of k hotels. Those rows are few enough to scan.
            return self.scan(queries, keep, rows)
        return labels[labels >= 0]

    def scan(self, queries, size, rows) -> np.ndarray:
        """Each query's `size` nearest of `rows` by the walk's own vectors, exactly."""
        return self.snapshot.graph_nearest(queries, rows, size)

    def probe_turns(self, queries, turns, rows) -> tuple[np.ndarray, np.ndarray]:
        """(labels of a shallow walk of every query, the queries to walk in full).

        A set's photos are `turns` views each; a photo's view whose best probe is more
        than `TURN_MARGIN` below its best view's is not walked further (what its probe
        found is still re-scored): a set costs about one full walk per photo, not four.
        """
        labels, scores = self.walk(queries, PROBE_EF, rows, with_scores=True)
        best = scores.reshape(len(queries), PROBE_EF)[:, 0].reshape(-1, turns)
        walked = best >= best.max(axis=1, keepdims=True) - TURN_MARGIN
        return labels, np.flatnonzero(walked.reshape(-1))

    def walk(self, queries, size, rows, with_scores=False, ef=None):
        """Each query's `size` best labels of a FAISS walk `ef` deep (default: `size`),
        best first, restricted in native code to `rows` (None: all) minus dead rows; with
        their inner products (in the graph's space, from its stored codes) if asked.

        A filtered walk looks as far as an unfiltered one (ef = the shortlist): twice as
        far cost 3.5-6.7 ms more at 1M (country, chain) for recall@100 0.987 against 0.975
        (target 0.95; docs/benchmarks-history.md, fourteenth session)."""
        import faiss

        snapshots.one_thread()
        snapshot = self.snapshot
        queries = snapshot.graph_query(queries)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(size, ef or size)
        allowed = None
        if rows is not None or self.dead.any():
            allowed = ~self.dead if rows is None else np.zeros(len(snapshot), dtype=bool)
            if rows is not None:
                allowed[rows] = True
            bits = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(snapshot), faiss.swig_ptr(bits))
            params.sel = selector
        scores, labels = snapshot.graph.search(queries, size, params=params)
        labels = labels.reshape(-1)  # -1 where fewer than `size` were found
        return (labels, scores.reshape(-1)) if with_scores else labels

    # --- `LiveRows` hooks ---

    def _drop(self, gone: np.ndarray) -> None:
        if not gone.any():
            return
        slots = self.slots[gone]
        dead = self.dead.copy()
        dead[slots[slots >= 0]] = True
        self.dead = dead
        self.delta = self.delta.without(-1 - slots[slots < 0])
        self.embedding_ids = self.embedding_ids[~gone]
        self.image_ids = self.image_ids[~gone]
        self.slots = self.slots[~gone]

    def _add(self, embedding_ids: np.ndarray) -> None:
        for ids, image_ids, vectors, owners in read_rows(embedding_ids):
            first = len(self.delta.image_ids)
            if first and first % DELTA_WARN_ROWS < len(ids):
                logger.warning(
                    "%d photos added since the snapshot of %s was built: is the nightly "
                    "rebuild (matcher.tasks.rebuild_shared_index) running?",
                    first,
                    self.version,
                )
            self.delta = self.delta.added(image_ids, vectors, owners)
            slots = -1 - np.arange(first, first + len(ids), dtype=np.int64)
            self.embedding_ids = np.concatenate([self.embedding_ids, ids]).astype(np.int64)
            self.image_ids = np.concatenate([self.image_ids, image_ids]).astype(np.int64)
            self.slots = np.concatenate([self.slots, slots])


def moved_out(owners: dict, filters: HotelFilters | None) -> set[int]:
    """Images whose hotel no longer passes the filters: the snapshot holds each hotel's
    place and chain as at the build, and a hotel may have been edited since."""
    if filters is None or not filters.active:
        return set()
    if filters.q.strip() or filters.near is not None:  # `selection` read these hotels now
        return set()
    hotels = {hotel_id for hotel_id, _ in owners.values()}
    if not hotels:
        return set()
    passing = set(
        hotels_filtered(filters).filter(pk__in=many_ids(hotels)).values_list("pk", flat=True)
    )
    return {pk for pk, (hotel_id, _) in owners.items() if hotel_id not in passing}


# `live_images()` among ids, compiled once (`IdsStatement`). An index-only scan of
# `rooms_roomimage_live` where planned with its values (unprepared, as `pipelined` and
# `IdsStatement` send it): a generic plan could not match the partial index.
LIVE_AMONG = IdsStatement(lambda ids: live_images().filter(pk__in=ids).order_by().values_list("pk"))


def still_gone(image_ids: list[int]) -> set[int]:
    """`not_searchable`, as one array parameter on PostgreSQL (1 ms against 4 at 1M)."""
    with liveness_probe(image_ids) as gone:
        return gone()


@contextlib.contextmanager
def liveness_probe(image_ids: list[int]):
    """`still_gone(image_ids)`, sent now and answered by calling what this yields.

    On PostgreSQL the query goes out in pipeline mode, so the database checks the ids
    while the caller goes on (the context step reads and scores the photos' vectors
    meanwhile: ~1 ms of a 15 ms search at 1M, formerly spent waiting).
    """
    if not image_ids or not can_pipeline():
        gone = set(image_ids) - {pk for (pk,) in LIVE_AMONG.rows(image_ids)}
        yield lambda: gone
        return
    with pipelined() as (send, sync):
        probe = send(*LIVE_AMONG.bound(image_ids))

        @functools.cache  # read once; asked again, the same answer
        def gone() -> set[int]:
            sync()
            return set(image_ids) - {row[0] for row in probe.fetchall()}

        yield gone


class Selection:
    def __init__(self, rows: np.ndarray | None, hotel_ids: np.ndarray | None):
        self.rows = rows  # snapshot rows allowed; None = every row
        self.hotel_ids = hotel_ids  # the hotels allowed, when the database was asked


def stacked(mapped_column, delta_column, rows, delta_rows, positions) -> np.ndarray:
    """`np.concatenate([mapped_column[rows], delta_column[delta_rows]])[positions]`, only
    those positions read (`positions` sorted: the snapshot's come first)."""
    split = np.searchsorted(positions, len(rows))
    mapped, added = positions[:split], positions[split:] - len(rows)
    return np.concatenate([mapped_column[rows[mapped]], delta_column[delta_rows[added]]])


def ranges_rows(ranges) -> np.ndarray:
    if not ranges:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([np.arange(start, end, dtype=np.int64) for start, end in ranges])
