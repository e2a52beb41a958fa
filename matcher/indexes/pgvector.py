"""Vector search in PostgreSQL with pgvector: HNSW, filters inside the SQL.

Selected automatically by `matcher.indexes.get_index()` when the database is PostgreSQL
and migration `matcher.0002_pgvector` found pgvector (the `embedding` column exists).

- Vectors: `matcher_embedding.embedding` mirrors `Embedding.vector` (a trigger keeps
  them equal), so a new vector is searchable as soon as its transaction commits. It
  is kept in the row (STORAGE MAIN, migration 0005), so re-scoring a candidate reads
  no TOAST table.
- Index: one partial HNSW index per model version, on `embedding::halfvec(D)` with
  cosine distance. halfvec halves the index (2 bytes a dimension) and its recall loss
  is measured in docs/benchmarks.md; scores are then recomputed on the float32
  vectors, so similarities are exact whatever the index.
- Liveness: the query joins `rooms_roomimage`, so hidden, flagged and deleted images
  drop out at once, with no index maintenance.
- Filters (hotels), in the same statement: filters matching few images (at most
  `EXACT_BELOW`) are searched exactly, which is both faster and complete there;
  broad ones (`GRAPH_WALK_SHARE` of the hotels) walk the graph with pgvector 0.8's
  iterative scan (`hnsw.iterative_scan = relaxed_order`), which keeps walking until
  k rows pass (see `searchable_sql` for the plan this needs); the rest are left to
  the planner, which scans them exactly.
- Results carry each image's hotel and chain (`Neighbours.owners`), read in the
  same statement, so the hotel ranking needs no second query.
"""

import hashlib
import logging

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet

from matcher.indexes import Neighbours, projection
from matcher.indexes.sql import vector_literal
from matcher.models import Embedding, Projection
from retrieval import pca
from rooms.models import Hotel, RoomImage, Submission

logger = logging.getLogger(__name__)

# Filtered searches over at most this many images are exact: scanning them costs about
# what an iterative HNSW scan pays to find k of them when they are this rare (1M: 0.5 %).
EXACT_BELOW = 5_000
# Hotel filters holding at least this share of the hotels walk the graph; narrower
# ones are left to the planner, which scans them exactly: a walk visits ~k/share
# candidates and, in relaxed order, misses more of the true ones as the share drops
# (1M: a 4 % country walked in ~250 ms at recall 0.94; docs/benchmarks-history.md).
GRAPH_WALK_SHARE = 0.1
AUTO_BUILD_ROWS = 20_000  # a missing HNSW index is built on first search below this
EF_SEARCH_MIN = 800  # full-dimension graph: recall@100 ≥ 0.95 at 100k (docs/benchmarks-history.md)
EF_SEARCH_MAX = 1000  # pgvector's limit
MAX_SCAN_TUPLES = 200_000  # iterative scans give up here (pgvector default: 20 000)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
# Graphs over PCA projections are for a million photos and more, where m=16 found only
# ~60 % of the true neighbours (docs/benchmarks-history.md): denser, at 1/5 the distance cost.
PROJECTION_HNSW_M = 32
PROJECTION_EF_CONSTRUCTION = 128


def pgvector_version() -> tuple[int, ...]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return tuple(int(part) for part in row[0].split(".")) if row else ()


def hnsw_index_name(version: str, dim: int) -> str:
    digest = hashlib.sha1(f"{version}/{dim}".encode()).hexdigest()[:16]
    return f"matcher_hnsw_{digest}"


def hnsw_index_exists(version: str, dim: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [hnsw_index_name(version, dim)])
        return cursor.fetchone()[0]


def ensure_hnsw_index(version: str, dim: int, *, concurrently: bool = False) -> bool:
    """Create the HNSW index serving `version`; True when it was created now.

    `concurrently=True` (management command, outside a transaction) lets uploads go on
    during a long build; the default blocks writes to the table while it runs.
    """
    if hnsw_index_exists(version, dim):
        return False
    dim = int(dim)
    m, ef_construction = graph_params(version)
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # Deferred FK checks of this transaction's inserts must fire before DDL.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # The version is a parameter bound client-side: the partial predicate is a literal.
        cursor.execute(
            f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS "
            f"{hnsw_index_name(version, dim)} ON {Embedding._meta.db_table} "
            f"USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) "
            f"WITH (m = {m}, ef_construction = {ef_construction}) "
            "WHERE model_version = %s",
            [version],
        )
        if connection.in_atomic_block:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    logger.info("built HNSW index %s for %s", hnsw_index_name(version, dim), version)
    return True


INLINE_BATCH = 5_000  # rows per transaction: ~25 MB of 1280-dim vectors, a short lock


def move_inline(version: str, batch: int = INLINE_BATCH, progress=None) -> int:
    """Rewrite `version`'s vectors stored out of line into their rows (migration 0005).

    Short transactions by primary-key range, so searches and uploads go on. On
    PostgreSQL 17+ only rows still out of line are written (a re-run is cheap); older
    servers cannot tell, so every row is rewritten. Returns the rows written.
    """
    with connection.cursor() as cursor:
        out_of_line = (
            " AND pg_column_toast_chunk_id(embedding) IS NOT NULL"
            if connection.pg_version >= 170000
            else ""
        )
        written, last = 0, 0
        while True:
            cursor.execute(
                f"SELECT max(id), count(*) FROM (SELECT id FROM {Embedding._meta.db_table} "
                "WHERE model_version = %s AND id > %s ORDER BY id LIMIT %s) AS chunk",
                [version, last, batch],
            )
            upto, rows = cursor.fetchone()
            if not rows:
                return written
            with transaction.atomic():
                # A new value (the cast), not the stored one, which keeps its TOAST
                # pointer; float4 -> real[] -> vector keeps every bit.
                cursor.execute(
                    f"UPDATE {Embedding._meta.db_table} SET embedding = embedding::real[]::vector "
                    f"WHERE model_version = %s AND id > %s AND id <= %s{out_of_line}",
                    [version, last, upto],
                )
                written += cursor.rowcount
            last = upto
            if progress:
                progress(rows)


def graph_params(version: str) -> tuple[int, int]:
    """(m, ef_construction) of the HNSW graph for `version`."""
    if Projection.objects.filter(key=version).exists():
        return PROJECTION_HNSW_M, PROJECTION_EF_CONSTRUCTION
    return HNSW_M, HNSW_EF_CONSTRUCTION


class PgvectorIndex:
    """`VectorIndex` on PostgreSQL + pgvector (see the module docstring)."""

    accepts_hotel_filter = True
    exhaustive_when_short = False  # an HNSW walk may return fewer rows than it holds

    def __init__(self, ef_search: int = EF_SEARCH_MIN, shortlist: int | None = None):
        self.ef_search = ef_search
        self.shortlist = shortlist or settings.MATCHER_PGVECTOR_SHORTLIST
        self.iterative = pgvector_version() >= (0, 8)
        self._ready: set[tuple[str, int]] = set()  # (version, dim) with an HNSW index
        self._dims: dict[str, int] = {}

    def search(self, query, k, image_ids=None, hotels: QuerySet | None = None):
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        version, projected = projection.serving()
        if not version or k <= 0:
            return []
        dim = self.version_dim(version)
        if dim is None:
            return []
        if len(query) != dim:
            raise ValueError(f"query has {len(query)} dims, index {version!r} has {dim}")
        where, params = restriction_sql(image_ids, hotels)
        reduction = self.indexed(projected)
        approximate = reduction is not None or self.has_index(version, dim)
        if approximate and where:
            approximate = (
                self.iterative and count_up_to(version, where, params, EXACT_BELOW) > EXACT_BELOW
            )
        graph_walk = approximate and hotels is not None and broad(hotels)
        if graph_walk:
            where, params = restriction_sql(image_ids, hotels, graph_walk=True)
        ef_search = max(self.ef_search, k)
        if approximate and reduction is not None:
            ef_search = self.shortlist_size(k)  # the graph's candidates are the shortlist
            sql, sql_params = shortlist_sql(
                query, reduction, version, where, params, k, ef_search, graph_walk
            )
        else:
            literal = vector_literal(query)
            sql, sql_params = nearest_sql(
                literal, dim, version, where, params, k, approximate, graph_walk
            )
        with transaction.atomic(), connection.cursor() as cursor:
            if approximate:
                self.configure_scan(cursor, ef_search, graph_walk=graph_walk)
            cursor.execute(sql, sql_params)
            return neighbours(cursor.fetchall())

    def version_dim(self, version: str) -> int | None:
        """The version's dimension (fixed per version: it is part of the version key)."""
        if version not in self._dims:
            dim = (
                Embedding.objects.filter(model_version=version)
                .values_list("dim", flat=True)
                .first()
            )
            if dim is None:
                return None
            self._dims[version] = dim
        return self._dims[version]

    def configure_scan(self, cursor, ef_search, graph_walk=False) -> None:
        """Per transaction: the graph's candidate list, and keep scanning past filtered rows.

        One statement (`set_config(..., is_local => true)` is `SET LOCAL`): each SET is a
        round trip, and a search is short enough for three of them to show.
        """
        scan = {"hnsw.ef_search": min(EF_SEARCH_MAX, ef_search)}
        if graph_walk:
            # Left to itself, the planner sorts every allowed image instead of walking
            # the graph (a country at 1M: ~600 ms, against ~200 ms walking it).
            scan["enable_sort"] = "off"
        if self.iterative:
            scan["hnsw.iterative_scan"] = "relaxed_order"
            scan["hnsw.max_scan_tuples"] = MAX_SCAN_TUPLES
        calls = ", ".join(["set_config(%s, %s, true)"] * len(scan))
        cursor.execute(f"SELECT {calls}", [str(part) for item in scan.items() for part in item])

    def shortlist_size(self, k: int) -> int:
        """Candidates the PCA graph yields for a top-k, all re-scored exactly.

        Half again k, so the exact order can promote neighbours the projection ranks
        just below k; at least `shortlist` (the setting), which sets recall vs speed.
        """
        return max(k + k // 2, self.shortlist)

    def reduction(self, version: str):
        """The complete PCA projection of `version` whose HNSW index exists, or None."""
        return self.indexed(projection.active_reduction(version))

    def indexed(self, reduction):
        """`reduction` if its HNSW index exists (or None)."""
        if reduction is None or not self.has_index(reduction.key, reduction.dim):
            return None
        return reduction

    def has_index(self, version: str, dim: int) -> bool:
        """Whether the HNSW index exists, building it when the version is still small."""
        if (version, dim) in self._ready:
            return True
        if not hnsw_index_exists(version, dim):
            if count_up_to(version, "", [], AUTO_BUILD_ROWS) > AUTO_BUILD_ROWS:
                logger.warning(
                    "no HNSW index for %s: searching exactly (slow) until "
                    "`manage.py pgvector_index` builds it",
                    version,
                )
                return False
            ensure_hnsw_index(version, dim)
        self._ready.add((version, dim))
        return True


def neighbours(rows) -> Neighbours:
    """`Neighbours` from rows of (image id, similarity, hotel id, chain id), best first."""
    return Neighbours(
        [(image_id, float(similarity)) for image_id, similarity, _, _ in rows],
        owners={image_id: (hotel_id, chain_id) for image_id, _, hotel_id, chain_id in rows},
    )


def restriction_sql(image_ids, hotels: QuerySet | None, graph_walk=False) -> tuple[str, list]:
    """SQL conditions (on aliases e = embedding, i = image) for the allowed images.

    `graph_walk` (hotels only): one condition on `e` alone, checked per candidate the
    graph yields (see `searchable_sql`).
    """
    where, params = "", []
    if image_ids is not None:
        where += " AND e.image_id = ANY(%s)"
        params.append([int(pk) for pk in np.asarray(image_ids).reshape(-1)])
    if hotels is not None:
        hotel_sql, hotel_params = hotels.order_by().values("pk").query.sql_with_params()
        if graph_walk:
            where += f" AND ({HOTEL_OF_CANDIDATE} IN ({hotel_sql}) OR false)"
        else:
            where += (
                f" AND i.submission_id IN (SELECT s.id FROM {Submission._meta.db_table} s"
                f" WHERE s.hotel_id IN ({hotel_sql}))"
            )
        params.extend(hotel_params)
    return where, params


IMAGE_SEARCHABLE = f"i.status = '{RoomImage.Status.EMBEDDED}' AND i.flagged_reason = ''"
SEARCHABLE = (
    f"FROM {Embedding._meta.db_table} e JOIN {RoomImage._meta.db_table} i ON i.id = e.image_id "
    f"WHERE e.model_version = %s AND {IMAGE_SEARCHABLE}"
)


# A candidate's hotel if its image is searchable (else NULL), probed by primary keys.
HOTEL_OF_CANDIDATE = (
    f"(SELECT s.hotel_id FROM {RoomImage._meta.db_table} i "
    f"JOIN {Submission._meta.db_table} s ON s.id = i.submission_id "
    f"WHERE i.id = e.image_id AND {IMAGE_SEARCHABLE})"
)


def searchable_sql(where: str, graph_walk: bool) -> tuple[str, str]:
    """(FROM ... WHERE ... of the allowed vectors, SQL of their submission id).

    A filtered graph walk (`restriction_sql(graph_walk=True)`) checks each candidate
    the graph yields with a few primary-key probes, against the allowed hotels hashed
    once. Its condition is on `e` alone and fenced with `OR false`, so the planner can
    neither join the images first (it then re-read the allowed images per candidate:
    38 s for the largest country at 1M) nor hash every allowed image (1 s there).
    """
    if not graph_walk:
        return f"{SEARCHABLE}{where}", "i.submission_id"
    images = RoomImage._meta.db_table
    return (
        f"FROM {Embedding._meta.db_table} e WHERE e.model_version = %s{where}",
        f"(SELECT i.submission_id FROM {images} i WHERE i.id = e.image_id)",
    )


# The final rows with their hotel and chain, read in the same statement as the liveness
# check: the hotel ranking then needs no second query for them (~8 ms at k=200).
WITH_OWNERS = (
    "SELECT n.image_id, 1 - n.distance, h.id, h.chain_id FROM nearest n "
    f"JOIN {Submission._meta.db_table} sub ON sub.id = n.submission_id "
    f"JOIN {Hotel._meta.db_table} h ON h.id = sub.hotel_id "
    "ORDER BY n.distance, n.image_id"
)


def broad(hotels: QuerySet) -> bool:
    """Whether the filter keeps at least `GRAPH_WALK_SHARE` of the hotels (two counts)."""
    total = Hotel.objects.count()
    return total > 0 and hotels.order_by().count() >= GRAPH_WALK_SHARE * total


def count_up_to(version: str, where: str, params: list, bound: int) -> int:
    """Searchable images passing `where`, counted up to `bound + 1` (bounded cost)."""
    limit = int(bound) + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 {SEARCHABLE}{where} LIMIT {limit}) AS allowed",
            [version, *params],
        )
        return cursor.fetchone()[0]


def nearest_sql(
    literal, dim, version, where, params, k, approximate, graph_walk=False
) -> tuple[str, list]:
    """SQL and params for the top-k (image_id, cosine), best first.

    Ordering by the indexed expression (`embedding::halfvec(D)`) lets the planner use
    the HNSW index; ordering by the float32 distance cannot, so that is an exact scan.
    Either way the similarity comes from the float32 vectors and the final order is
    exact among the candidates (relaxed_order may return them slightly out of order).
    """
    dim = int(dim)
    allowed, submission = searchable_sql(where, graph_walk)
    select = (
        f"SELECT e.image_id, {submission} AS submission_id, "
        f"e.embedding <=> %s::vector AS distance {allowed}"
    )
    select_params = [literal, version, *params]
    if approximate:
        order, order_params = f"e.embedding::halfvec({dim}) <=> %s::halfvec({dim})", [literal]
    else:
        order, order_params = "distance, e.image_id", []
    sql = f"WITH nearest AS MATERIALIZED ({select} ORDER BY {order} LIMIT %s) {WITH_OWNERS}"
    return sql, [*select_params, *order_params, k]


def shortlist_sql(
    query, reduction, version, where, params, k, size, graph_walk=False
) -> tuple[str, list]:
    """SQL and params for the top-k (image_id, cosine) through a PCA projection's graph.

    The HNSW index of `reduction.key` yields a shortlist of `size` images;
    their float32 vectors of `version` give the exact similarity and the final order.
    Filters (`where`) apply to the shortlist scan, so iterative scans still fill it.
    """
    dim = int(reduction.dim)
    reduced = vector_literal(pca.project(query[None, :], projection.matrix_of(reduction))[0])
    table = Embedding._meta.db_table
    allowed, submission = searchable_sql(where, graph_walk)
    shortlist = (
        f"SELECT e.image_id, {submission} AS submission_id {allowed} "
        f"ORDER BY e.embedding::halfvec({dim}) <=> %s::halfvec({dim}) LIMIT %s"
    )
    sql = (
        f"WITH shortlist AS MATERIALIZED ({shortlist}), "
        f"nearest AS MATERIALIZED (SELECT s.image_id, s.submission_id, "
        f"f.embedding <=> %s::vector AS distance FROM {table} f "
        "JOIN shortlist s ON s.image_id = f.image_id WHERE f.model_version = %s "
        f"ORDER BY distance, s.image_id LIMIT %s) {WITH_OWNERS}"
    )
    full = vector_literal(query)
    return sql, [reduction.key, *params, reduced, size, full, version, k]
