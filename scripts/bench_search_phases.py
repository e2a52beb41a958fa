"""Where an unfiltered `SharedIndex` search's time goes, step by step, at 1M photos.

    DATABASE_URL=... MATCHER_INDEX_BACKEND=matcher.indexes.shared.SharedIndex \
        .venv/bin/python manage.py shell < scripts/bench_search_phases.py

On a gallery loaded by `manage.py bench_index --images 1000000 --spectrum decaying`
with its snapshot built: 100 new queries (`QUERIES=`), each timed on its second touch as
`bench_index` does, twice; prints the p50 of `search_hotels` and the median time of each
step in a search (wrapped here, not in the code). Run it alternately against a worktree
of another revision: this VM's speed moves within minutes. Figures in
docs/benchmarks-history.md ("sixteenth session"), docs/benchmarks.md
("seventeenth session", "eighteenth session").
"""

import functools
import os
import time

import numpy as np

from benchmarks.gallery import Gallery
from matcher import search
from matcher.indexes import shared

HOTELS = 50_000  # bench_index --images 1000000 --per-hotel 20
STEPS = {  # (owner, attribute): label
    (shared, "serving_state"): "the version and markers",
    (shared.View, "walk"): "graph walk",
    (shared.View, "_top_k"): "walk + shortlist re-scored",
    (search, "search_turns"): "the index's search",
    (shared.View, "photos_in_context"): "context step",
    (search, "shown_and_chains"): "shown photos and chain names",
}
spent = {}


def timed(function, label):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent.setdefault(label, []).append((time.perf_counter() - start) * 1000)

    return wrapper


for (owner, name), label in STEPS.items():
    setattr(owner, name, timed(getattr(owner, name), label))

count = int(os.environ.get("QUERIES", "100"))
gallery = Gallery(1280, HOTELS, spectrum="decaying")
queries = gallery.photos(np.random.default_rng(5).integers(0, HOTELS, count), seed=10**9 + 77)
for _ in range(2):
    for query in queries:  # first touch
        search.search_hotels(query, k=10)
    totals, steps = [], {}
    for query in queries:
        spent.clear()
        start = time.perf_counter()
        search.search_hotels(query, k=10)
        totals.append((time.perf_counter() - start) * 1000)
        for label, times in spent.items():
            steps.setdefault(label, []).append(sum(times))
    print(f"search_hotels p50 {np.median(totals):.2f} ms over {count} queries")
    for label, times in steps.items():
        print(f"  {np.median(times):6.2f} ms  {label}")
