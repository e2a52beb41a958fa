"""Where a hotel search's time goes, on a gallery loaded by `manage.py bench_index`.

    DATABASE_URL=... .venv/bin/python manage.py shell < scripts/bench_search_profile.py

Prints: the p50 of `search_hotels` for 20 new queries (timed on their second touch,
as `bench_index` does), each SQL statement of a search with its median time and the
time spent outside them, a cProfile of 20 searches, and `EXPLAIN (ANALYZE, BUFFERS)`
of the pgvector statement (its third run); with the in-process graph
(`MATCHER_INDEX_BACKEND=matcher.indexes.graph.GraphIndex`), the graph walk's median
and the plan of the re-scoring statement instead. Figures in docs/benchmarks.md
("fourth round", "fifth round", "sixth round").

Statements sent in pipeline mode (`matcher.indexes.sql.pipelined`: since the fourteenth
session the liveness probe of the context step, the shown photos and the chain names)
bypass Django's cursor: they are not listed, and their time counts as "outside them".
"""

import cProfile
import io
import pstats
import re
import time

import numpy as np
from django.db import connection, transaction

from benchmarks.gallery import Gallery
from matcher import indexes as index_module
from matcher.indexes import pgvector as pgvector_index
from matcher.indexes import projection
from matcher.models import IndexState
from matcher.search import search_hotels

HOTELS = 50_000  # bench_index --images 1000000 --per-hotel 20


def timed_p50(queries) -> float:
    for query in queries:  # first touch
        search_hotels(query, k=10)
    times = []
    for query in queries:
        start = time.perf_counter()
        search_hotels(query, k=10)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50))


def print_statements(queries):
    """Each statement of a search (median ms over `queries`), and the time outside them."""
    timings, totals, in_db = [], [], []

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((sql[:70], (time.perf_counter() - start) * 1000))

    with connection.execute_wrapper(timed):
        per_statement = {}
        for query in queries:
            timings.clear()
            start = time.perf_counter()
            search_hotels(query, k=10)
            totals.append((time.perf_counter() - start) * 1000)
            in_db.append(sum(ms for _, ms in timings))
            for position, (sql, ms) in enumerate(timings):
                per_statement.setdefault((position, sql), []).append(ms)
    print(
        f"search_hotels p50 {np.median(totals):.1f} ms: statements {np.median(in_db):.1f}, "
        f"outside them {np.median(np.subtract(totals, in_db)):.1f}; {len(timings)} statements"
    )
    for (_, sql), times in per_statement.items():
        print(f"  {np.median(times):6.2f} ms  {sql}")


def print_profile(queries):
    profile = cProfile.Profile()
    profile.enable()
    for query in queries:
        search_hotels(query, k=10)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
    print(out.getvalue())


def shorten(line: str) -> str:
    """A plan line without its long literals (the query vector, the shortlist's ids)."""
    return re.sub(r"\{[0-9,]{200,}\}", "{...}", re.sub(r"\[[-0-9.e,]{200,}\]", "[...]", line))


def print_plan(query):
    index = index_module.get_index()
    version = IndexState.get().active_version
    size = index.shortlist_size(200)
    sql, params = pgvector_index.shortlist_sql(
        query, index.reduction(version), version, "", [], 200, size
    )
    for _ in range(3):  # the third run: warm
        with transaction.atomic(), connection.cursor() as cursor:
            index.configure_scan(cursor, size)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
    print("\n".join(shorten(line) for line in plan))


def print_walk(index, queries):
    """The graph walk alone (median over `queries`), then the re-scoring statement's plan."""
    version, reduction = projection.serving()
    times = []
    for query in queries:
        start = time.perf_counter()
        with index._lock:
            candidates = index.candidates(query, reduction, 200)
        times.append((time.perf_counter() - start) * 1000)
    print(f"graph walk for 200 (shortlist {len(candidates)}): {np.median(times):.2f} ms p50")
    from matcher.indexes.graph import rescore_sql

    sql, params = rescore_sql(query, version, candidates, 200)  # the last query's shortlist
    for _ in range(3):  # the third run: warm
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
    print("\n".join(shorten(line) for line in plan))


index_module.reset_index()
gallery = Gallery(1280, HOTELS, spectrum="decaying")
rng = np.random.default_rng(123)
queries = gallery.photos(rng.choice(HOTELS, size=20), seed=10**9 + 5)
print(f"search_hotels p50 {timed_p50(queries):.1f} ms (second touch)")
print_statements(queries)
print_profile(queries)
searching = index_module.get_index()
if isinstance(searching, pgvector_index.PgvectorIndex):
    print_plan(queries[0])
elif getattr(searching, "graph", None) is not None:  # GraphIndex, with its graph loaded
    print_walk(searching, queries)
