"""An index snapshot: one immutable, memory-mapped directory that every process shares.

Why: an HNSW graph loaded into each web process costs ~1.3 GB per process at a million
photos (docs/benchmarks-history.md, sixth round). A snapshot is written once by
`manage.py shared_index` (or a Celery task) and opened with `mmap` by every process
(FAISS `IO_FLAG_MMAP_IFC`, NumPy `mmap_mode="r"`): the pages sit once in the page cache
and are counted once, whatever the number of processes.

A snapshot directory holds:
- `index.faiss`: a FAISS HNSW graph (inner product) over the rows' vectors, or over
  their projection when `projection.npy` is there (PCA learned from the rows at build);
  it stores those vectors as 8-bit codes (`quantised`); labels are row numbers.
- `vectors.npy`: the rows' full float32 vectors, to re-score a shortlist exactly.
- `embedding_ids.npy`, `image_ids.npy`, `hotel_ids.npy`, `chain_ids.npy` (-1: none).
- `groups.json`: rows are sorted by (country, city, hotel), so a country, a city and a
  hotel are each one contiguous range of rows: [country, city, start, end] per city.
- `hotels.npy`: (hotel id, start, end) sorted by hotel id.
- `context.npy`, `context_norms.npy`: each row's nearest rows of its hotel and the norm
  of its blend with them (`retrieval.context.neighbour_table`), so that hotel context
  is a gather at search time; `groups.json` says with how many neighbours.

Builds go to a new directory; `current` (a one-line file beside them) names the served
one and is replaced atomically, so a process opens a whole snapshot or the previous one.
"""

import fcntl
import hashlib
import json
import os
import shutil
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from matcher.indexes import searchable_embeddings
from matcher.indexes.huge_pages import prefer_huge_pages
from matcher.indexes.live_rows import read_vectors
from retrieval import context as hotel_context
from retrieval import pca

GRAPH_M = 32  # as the graphs before it: 0.976 of the true top-100 at 1M where M 16 had 0.935
# A better-linked graph for the same walk: at 1M, unfiltered recall@100 0.991 against
# 0.986 with 128 (country 0.982 against 0.975) and the exact index's top-10 hotels kept
# in 97 % of pages against 93 %; the walk ~8 % longer at efSearch 700 (half the
# gallery, both graphs mapped alike); built in 947 s against 550 on 2 cores
# (docs/benchmarks.md, seventeenth session).
EF_CONSTRUCTION = 256
PROJECT_ABOVE_ROWS = 50_000  # larger galleries walk a PCA projection (~4x faster at 1M)
PROJECTED_DIM = 256
QUANTISER_SAMPLE = 100_000  # rows whose range sets each dimension's 8-bit scale
SCANNED_RUNS = 64  # `Snapshot.graph_nearest`: rows in more runs are gathered, then scanned
CHAIN_ROWS_KEPT = 64  # chains whose rows a snapshot keeps (a large chain's: ~1 MB at 1M)
PCA_SAMPLE = 100_000
KEEP_BUILDS = 2  # the served build and the one before (a process may still be opening it)


def home(version: str) -> Path:
    digest = hashlib.sha1(version.encode()).hexdigest()[:16]
    return Path(settings.MATCHER_GRAPH_DIR) / f"shared-{digest}"


def pointer(version: str) -> Path:
    return home(version) / "current"


def fold(city: str) -> str:
    """A city as the filter compares it (`city__iexact`)."""
    return city.strip().casefold()


@dataclass
class Rows:
    """The rows of a build, sorted by (country, city, hotel)."""

    embedding_ids: np.ndarray
    image_ids: np.ndarray
    hotel_ids: np.ndarray
    chain_ids: np.ndarray
    groups: list  # [country, folded city, start, end]


def searchable_rows(version: str) -> Rows:
    """Every searchable row of `version` with its owners, in snapshot order."""
    hotel = "image__submission__hotel"
    rows = list(
        searchable_embeddings(version)
        .order_by()  # sorted below, by the folded city
        .values_list(
            "id", "image_id", f"{hotel}_id", f"{hotel}__chain_id", f"{hotel}__country_code",
            f"{hotel}__city",
        )
    )  # fmt: skip
    keys = [(country, fold(city)) for *_, country, city in rows]
    order = sorted(range(len(rows)), key=lambda i: (keys[i], rows[i][2], rows[i][0]))
    rows, keys = [rows[i] for i in order], [keys[i] for i in order]
    groups = []
    for position, key in enumerate(keys):
        if not groups or tuple(groups[-1][:2]) != key:
            groups.append([*key, position, position])
        groups[-1][3] = position + 1
    column = np.array([row[:4] for row in rows], dtype=object).reshape(-1, 4)
    return Rows(
        embedding_ids=column[:, 0].astype(np.int64),
        image_ids=column[:, 1].astype(np.int64),
        hotel_ids=column[:, 2].astype(np.int64),
        chain_ids=np.array([-1 if c is None else c for c in column[:, 3]], dtype=np.int64),
        groups=groups,
    )


def hotel_ranges(hotel_ids: np.ndarray) -> np.ndarray:
    """(hotel id, start, end) rows sorted by hotel id; a hotel's rows are contiguous."""
    if len(hotel_ids) == 0:
        return np.empty((0, 3), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, hotel_ids[1:] != hotel_ids[:-1]])
    ends = np.r_[starts[1:], len(hotel_ids)]
    table = np.stack([hotel_ids[starts], starts, ends], axis=1)
    return table[np.argsort(table[:, 0], kind="stable")]


@contextmanager
def build_lock(version: str):
    """One build of a version at a time on this machine (processes, tasks, the command)."""
    home(version).mkdir(parents=True, exist_ok=True)
    with open(home(version) / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(version: str, threads: int = 1, progress=None) -> Path:
    """Write a snapshot of `version`'s searchable rows and serve it; its directory."""
    with build_lock(version):
        return _build(version, threads, progress)


def build_if_missing(version: str) -> None:
    """`build`, unless another process served one while this one waited for the lock."""
    with build_lock(version):
        if not pointer(version).exists():
            _build(version)


def _build(version: str, threads: int = 1, progress=None) -> Path:
    import faiss

    rows = searchable_rows(version)
    if len(rows.image_ids) == 0:
        raise ValueError(f"no searchable vectors of {version!r}")
    name = uuid.uuid4().hex[:12]
    target = home(version) / f"tmp-{name}"  # renamed to build-* only when whole
    target.mkdir(parents=True)
    try:
        vectors = write_vectors(target, rows.embedding_ids, progress)
        components = learn_projection(vectors)
        graph_dim = vectors.shape[1] if components is None else components.shape[1]
        graph = faiss.IndexHNSWFlat(graph_dim, GRAPH_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = EF_CONSTRUCTION
        faiss.omp_set_num_threads(max(1, threads))
        for start in range(0, len(vectors), 20_000):
            chunk = np.ascontiguousarray(vectors[start : start + 20_000])
            graph.add(chunk if components is None else pca.project(chunk, components))
        faiss.write_index(quantised(graph), str(target / "index.faiss"))
        if components is not None:
            np.save(target / "projection.npy", components)
        for column in ("embedding_ids", "image_ids", "hotel_ids", "chain_ids"):
            np.save(target / f"{column}.npy", getattr(rows, column))
        hotels = hotel_ranges(rows.hotel_ids)
        np.save(target / "hotels.npy", hotels)
        table, blend_norms = hotel_context.neighbour_table(vectors, hotels[:, 1:].tolist())
        np.save(target / "context.npy", table)
        np.save(target / "context_norms.npy", blend_norms)
        meta = {
            "version": version,
            "rows": len(rows.image_ids),
            "groups": rows.groups,
            "context_neighbours": hotel_context.NEIGHBOURS,
        }
        (target / "groups.json").write_text(json.dumps(meta))
        target = target.rename(home(version) / f"build-{name}")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # nothing half-written is ever served
        raise
    serve(version, target)
    return target


def write_vectors(target: Path, embedding_ids: np.ndarray, progress=None) -> np.ndarray:
    """The rows' vectors into `vectors.npy`, in row order, streamed (not all in memory)."""
    position = {int(e): i for i, e in enumerate(embedding_ids)}
    out = None
    for ids, _, vectors in read_vectors(embedding_ids):
        if out is None:
            out = np.lib.format.open_memmap(
                target / "vectors.npy", mode="w+", dtype=np.float32,
                shape=(len(embedding_ids), vectors.shape[1]),
            )  # fmt: skip
        out[[position[int(e)] for e in ids]] = vectors
        if progress:
            progress(len(ids))
    out.flush()
    return np.load(target / "vectors.npy", mmap_mode="r")


def learn_projection(vectors: np.ndarray) -> np.ndarray | None:
    """A PCA matrix for large galleries of wide vectors, learned from a sample of them."""
    if len(vectors) <= PROJECT_ABOVE_ROWS or vectors.shape[1] <= PROJECTED_DIM:
        return None
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(vectors), size=min(PCA_SAMPLE, len(vectors)), replace=False))
    components, _ = pca.fit(np.asarray(vectors[sample]), PROJECTED_DIM)
    return components.astype(np.float32)


def quantised(graph):
    """`graph`'s links over 8-bit codes of its vectors (FAISS `IndexHNSWSQ`), not floats.

    Why: a walk is bound by reading the vectors of the nodes it visits, scattered over
    the file. At 1M, 256 bytes a node instead of 1 KB: the walk of 700 took 3.2-3.6 ms
    against 4.6-4.9 for the same recall@100 (0.992, 300 queries), the file 504 MiB
    against 1 236; the pages needed a walk of 800 to match the float graph's at 700:
    3.4-3.7 ms (docs/benchmarks.md, eighteenth session). The shortlist is
    re-scored with the full float32 vectors anyway. The links are those found on the
    float vectors (copied), so the graph is as well linked as one built without codes.
    """
    import faiss

    flat = faiss.downcast_index(graph.storage)
    vectors = faiss.rev_swig_ptr(flat.get_xb(), graph.ntotal * graph.d).reshape(-1, graph.d)
    codes = faiss.IndexHNSWSQ(
        graph.d, faiss.ScalarQuantizer.QT_8bit, GRAPH_M, faiss.METRIC_INNER_PRODUCT
    )
    rng = np.random.default_rng(0)
    sample = rng.choice(len(vectors), size=min(QUANTISER_SAMPLE, len(vectors)), replace=False)
    codes.train(np.ascontiguousarray(vectors[np.sort(sample)]))  # each dimension's range
    for start in range(0, len(vectors), 20_000):
        codes.storage.add(np.ascontiguousarray(vectors[start : start + 20_000]))
    codes.hnsw = graph.hnsw  # a copy: the float graph is freed with its caller's reference
    codes.ntotal = graph.ntotal
    return codes


def serve(version: str, target: Path) -> None:
    """Point `current` at `target` atomically, then remove builds older than the last two."""
    partial = pointer(version).with_suffix(f".{uuid.uuid4().hex[:8]}")
    partial.write_text(target.name)
    os.replace(partial, pointer(version))
    builds = sorted(home(version).glob("build-*"), key=lambda path: path.stat().st_mtime)
    for old in builds[:-KEEP_BUILDS]:
        if old != target:  # a process that mapped it keeps its pages (POSIX)
            shutil.rmtree(old, ignore_errors=True)


class Snapshot:
    """One build, opened read-only and memory-mapped (see the module docstring)."""

    def __init__(self, directory: Path):
        import faiss

        self.directory = directory
        meta = json.loads((directory / "groups.json").read_text())
        self.version, self.groups = meta["version"], meta["groups"]
        self.graph = faiss.read_index(str(directory / "index.faiss"), faiss.IO_FLAG_MMAP_IFC)

        def mapped(name):
            # A plain array over the mapping: np.memmap's Python-level indexing cost ~12
            # calls per search for nothing a read-only view needs.
            return np.asarray(np.load(directory / f"{name}.npy", mmap_mode="r"))

        self.vectors = mapped("vectors")
        # Read back in by 2 MB pages, not 4 KB, after the kernel evicts them: `huge_pages`.
        prefer_huge_pages([directory / "index.faiss", directory / "vectors.npy"])
        self.embedding_ids, self.image_ids = mapped("embedding_ids"), mapped("image_ids")
        self.hotel_ids, self.chain_ids = mapped("hotel_ids"), mapped("chain_ids")
        self.hotels = mapped("hotels")
        self._chain_rows = {}  # chain id -> rows (`chain_rows`)
        self._scanners = threading.local()  # .scanner: this thread's (`graph_nearest`)
        self.places = {}  # (country, folded city) -> [(start, end)], and country -> ...
        for country, city, start, end in self.groups:
            self.places.setdefault((country, city), []).append((start, end))
            self.places.setdefault((country, ""), []).append((start, end))
            self.places.setdefault(("", city), []).append((start, end))
        projection_file = directory / "projection.npy"
        self.projection = np.load(projection_file) if projection_file.exists() else None
        # Built with today's number of neighbours (older builds have none): gathered.
        self.context = self.context_norms = None
        if meta.get("context_neighbours") == hotel_context.NEIGHBOURS:
            self.context, self.context_norms = mapped("context"), mapped("context_norms")

    def graph_query(self, queries: np.ndarray) -> np.ndarray:
        """The (Q, D) queries as the graph sees them: projected when the graph is."""
        if self.projection is not None:
            queries = pca.project(queries, self.projection)
        return np.ascontiguousarray(queries, dtype=np.float32)

    def graph_nearest(self, queries: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
        """Each of the (Q, D) queries' `size` nearest of `rows` by the graph's own vectors
        (8-bit codes; floats in builds before them, read in place), exactly, as rows
        (flattened).

        FAISS's scanner reads the codes of each run of consecutive rows in place (rows
        are sorted by place and hotel: a city is one run): 0.7 ms for a city of 11 860
        rows at 1M, where copying them first took ~1.0 and its scan of the storage
        through a selector 2.5 whatever the rows (it asks about every row). Rows in many
        runs (a chain within a place) are gathered into one block instead of as many
        calls (docs/benchmarks.md, eighteenth session)."""
        import faiss

        one_thread()
        storage = faiss.downcast_index(self.graph.storage)
        queries, size = self.graph_query(queries), min(size, len(rows))
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return rows
        if rows.min() < 0 or rows.max() >= len(self):  # FAISS would read past the codes
            raise IndexError(f"rows outside 0..{len(self) - 1}")
        if not isinstance(storage, faiss.IndexScalarQuantizer):  # a build before the codes
            scores = inner_products(self.graph_codes().view(np.float32), rows, queries)
            return rows[np.argpartition(-scores, size - 1, axis=0)[:size].reshape(-1)]
        codes = self.graph_codes()
        starts = np.flatnonzero(np.r_[True, np.diff(rows) != 1])
        if len(starts) > SCANNED_RUNS:
            blocks = [(np.ascontiguousarray(codes[rows]), rows)]
        else:
            ends = np.r_[starts[1:], len(rows)]
            blocks = [
                (codes[rows[a] : rows[b - 1] + 1], rows[a:b])
                for a, b in zip(starts, ends, strict=True)
            ]
        scanner = self._scanner(storage)
        found = []
        for query in queries:
            scanner.set_query(faiss.swig_ptr(query))
            scanner.set_list(0, 0.0)
            # The scanner keeps the best `size` in a heap over these two arrays (inner
            # product: the largest, so it starts from -inf).
            scores = np.full(size, -np.inf, dtype=np.float32)
            labels = np.full(size, -1, dtype=np.int64)
            for block, ids in blocks:
                scanner.scan_codes(
                    len(ids), faiss.swig_ptr(block), faiss.swig_ptr(ids),
                    faiss.swig_ptr(scores), faiss.swig_ptr(labels), size,
                )  # fmt: skip
            found.append(labels[labels >= 0])
        return np.concatenate(found)

    def _scanner(self, storage):
        """This thread's FAISS scanner of the codes, made once: FAISS hands it over
        without ownership (SWIG never frees it: ~160 bytes), so one per query would
        leak; it holds the query it was last given, so threads do not share one."""
        scanner = getattr(self._scanners, "scanner", None)
        if scanner is None:
            scanner = storage.sq.select_InvertedListScanner(storage.metric_type, None, False, None)
            self._scanners.scanner = scanner
        return scanner

    def graph_codes(self) -> np.ndarray:
        """The (N, bytes) codes of the graph's own vectors (FAISS's storage), no copy."""
        import faiss

        storage = faiss.downcast_index(self.graph.storage)
        codes = faiss.rev_swig_ptr(storage.codes.data(), len(self) * storage.code_size)
        return codes.reshape(len(self), storage.code_size)

    def __len__(self):
        return len(self.image_ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def warm(self) -> None:
        """Touch each page of the snapshot once, so that searches do not pay first faults.

        A fresh process otherwise maps the files one page fault at a time during its
        first searches: at 1M on this VM (~7 us a fault) a search took 15-50 ms instead of
        ~3 until most of the snapshot (6 GB then) had been touched. Mapped pages are the
        page cache's, shared by every process (each one's PSS counts its share).
        """
        import faiss

        hnsw = self.graph.hnsw
        arrays = [self.graph_codes().reshape(-1), self.vectors.reshape(-1), self.image_ids]
        if self.context is not None:
            arrays += [self.context.reshape(-1), self.context_norms]
        for vector in (hnsw.neighbors, hnsw.offsets, hnsw.levels):
            arrays.append(faiss.rev_swig_ptr(vector.data(), vector.size()))
        for array in arrays:
            step = max(1, 4096 // array.itemsize)  # one element per page
            int(array[::step].sum())

    def place_ranges(self, country: str, city: str) -> list[tuple[int, int]]:
        """Row ranges of a country and/or a city (case-insensitive, as the filter)."""
        return self.places.get((country.upper(), fold(city)), [])

    def chain_rows(self, chain_id: int) -> np.ndarray:
        """Rows of a chain's hotels, kept for the next search with that chain: finding
        them compares the whole mapped column (1.2 ms at 1M), and a build never changes."""
        rows = self._chain_rows.get(chain_id)
        if rows is None:
            if len(self._chain_rows) >= CHAIN_ROWS_KEPT:
                self._chain_rows.clear()  # rare: many chains searched since the build
            rows = np.flatnonzero(np.asarray(self.chain_ids) == chain_id)
            rows.flags.writeable = False  # shared by every search with this chain
            self._chain_rows[chain_id] = rows
        return rows

    def hotel_rows(self, hotel_ids: np.ndarray) -> list[tuple[int, int]]:
        """Row ranges of these hotels (those without rows skipped)."""
        table = self.hotels
        positions = np.searchsorted(table[:, 0], hotel_ids)
        positions = positions[positions < len(table)]
        found = table[positions]
        found = found[np.isin(found[:, 0], hotel_ids)]
        return [(int(start), int(end)) for _, start, end in found]


def one_thread() -> None:
    """One OpenMP thread for this thread's FAISS calls (`View.walk`, `inner_products`): one
    query per request, and OpenMP's spinning pool only slows it on shared cores. libgomp
    keeps the setting per thread, and a request's thread is not always the one that
    opened the snapshot (gunicorn's threads, the loader's swap)."""
    import faiss

    faiss.omp_set_num_threads(1)


def inner_products(matrix: np.ndarray, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(len(rows), Q) inner products of these rows of the (N, d) float32 `matrix` (mapped)
    with the (Q, d) `queries`, read in place by FAISS's SIMD kernel: gathering the rows
    into an array first (2 MB for 400 full vectors at 1M) took twice as long (0.76 ms
    against 1.58; docs/benchmarks-history.md, sixteenth session). The kernel reads raw memory:
    what numpy would refuse (a row out of range, another width) is refused here."""
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    if matrix.dtype != np.float32 or not matrix.flags.c_contiguous:
        raise ValueError("inner_products reads a C-ordered float32 matrix")
    if queries.ndim != 2 or queries.shape[1] != matrix.shape[1]:
        raise ValueError(f"queries of shape {queries.shape} against {matrix.shape[1]} dims")
    if len(rows) and (rows.min() < 0 or rows.max() >= len(matrix)):
        raise IndexError(f"rows outside 0..{len(matrix) - 1}")
    ids = np.ascontiguousarray(np.broadcast_to(rows, (len(queries), len(rows))))
    one_thread()
    out = np.empty(ids.shape, dtype=np.float32)
    faiss.fvec_inner_products_by_idx(
        faiss.swig_ptr(out), faiss.swig_ptr(queries), faiss.swig_ptr(matrix),
        faiss.swig_ptr(ids), matrix.shape[1], len(queries), len(rows),
    )  # fmt: skip
    return out.T


def open_current(version: str) -> Snapshot | None:
    """The served snapshot of `version`, or None when none was built."""
    try:
        name = pointer(version).read_text().strip()
    except FileNotFoundError:
        return None
    return Snapshot(home(version) / name)


def current_marker(version: str) -> int | None:
    """Changes whenever a new build is served (checked on each search: one `stat`)."""
    try:
        return pointer(version).stat().st_mtime_ns
    except FileNotFoundError:
        return None
