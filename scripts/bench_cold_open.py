"""A web process that opens the snapshot after the page cache lost it, at 1M photos.

    DATABASE_URL=... MATCHER_INDEX_BACKEND=matcher.indexes.shared.SharedIndex \
        .venv/bin/python manage.py shell < scripts/bench_cold_open.py

On a gallery loaded by `manage.py bench_index --images 1000000 --spectrum decaying` with
its snapshot built, and no other process mapping it: drops the snapshot's files from
the page cache (as memory pressure does), then searches as a new web process does (the
snapshot warmed in the background while the first searches go on). Prints the first
searches' times, how much of the graph and of the full vectors the process maps by
2 MB pages once warm (`matcher.indexes.huge_pages`), and the p50 of 100 searches and of
their walks after that. `bench_index` warms the snapshot before it searches, which
reads the files in order, so it does not see this case. Figures in docs/benchmarks.md
("seventeenth session").
"""

import os
import shutil
import subprocess
import threading
import time

import numpy as np
from django.conf import settings

from benchmarks.gallery import Gallery
from matcher import search
from matcher.indexes import get_index
from matcher.indexes import snapshot as snapshots
from matcher.indexes.huge_pages import smaps
from matcher.indexes.shared import RESCORED_ROWS
from matcher.models import IndexState

HOTELS = 50_000  # bench_index --images 1000000 --per-hotel 20


def drop_from_page_cache(directory):
    """The files' cached pages dropped, then what is still cached: a page some other
    process maps stays (POSIX_FADV_DONTNEED skips it), and the figures would not be
    a cold open's."""
    for path in directory.iterdir():
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)
    if shutil.which("fincore"):  # util-linux
        files = [str(path) for path in directory.iterdir()]
        print(subprocess.run(["fincore", *files], capture_output=True, text=True).stdout)


def mapped_by_huge_pages(path) -> str:
    """'huge of resident MiB' of this process's mappings of `path`."""
    sizes = smaps(path)
    return f"{sizes.get('FilePmdMapped', 0) // 1024} of {sizes.get('Rss', 0) // 1024} MiB"


version = IndexState.get().active_version
directory = snapshots.home(version) / snapshots.pointer(version).read_text().strip()
drop_from_page_cache(directory.resolve())
gallery = Gallery(1280, HOTELS, spectrum="decaying")
queries = gallery.photos(np.random.default_rng(7).integers(0, HOTELS, 110), seed=10**9 + 79)
firsts = []
for query in queries[:10]:
    start = time.perf_counter()
    search.search_hotels(query, k=10)
    firsts.append((time.perf_counter() - start) * 1000)
print("first 10 searches (ms):", " ".join(f"{ms:.0f}" for ms in firsts))
for thread in threading.enumerate():
    if thread.name == "snapshot-warm":
        thread.join()
view = get_index().view
for name in ("index.faiss", "vectors.npy"):
    print(f"{name}: {mapped_by_huge_pages(view.snapshot.directory / name)} by 2 MB pages")
totals, walks = [], []
for query in queries[10:]:
    search.search_hotels(query, k=10)  # first touch, as bench_index
    start = time.perf_counter()
    search.search_hotels(query, k=10)
    middle = time.perf_counter()
    view.walk(query[None, :], RESCORED_ROWS, None, ef=settings.MATCHER_SHARED_SHORTLIST)
    totals.append((middle - start) * 1000)
    walks.append((time.perf_counter() - middle) * 1000)
print(f"then 100 searches p50 {np.median(totals):.2f} ms, their walk p50 {np.median(walks):.2f} ms")
