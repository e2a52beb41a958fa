"""An in-process HNSW graph (hnswlib) over the served vectors, for a million photos.

Why: at a million photos pgvector's graph walk is 16-34 ms of buffer visits on 2 cores
(by VM), most of a 33-70 ms hotel search; the same kind of graph (same projections,
M 32) walked in process memory takes ~3 ms, and the search ~22 ms
(docs/benchmarks-history.md, sixth round). The database stays the truth and the graph a view
of it, followed like the exact index's matrix:

- Over the active version's newest complete PCA projection (`matcher.indexes.projection`)
  when there is one, else over the version's own vectors; labels are image ids.
- Built by `manage.py graph_index` into `MATCHER_GRAPH_DIR`, which each process
  loads on its first search; a gallery of at most `AUTO_BUILD_ROWS` vectors is built
  in process instead. Without either, searches go to the database backend.
- Kept live by `LiveRows`: new vectors are inserted and gone images marked deleted
  (hnswlib supports both), never a rebuild.
- The graph yields a shortlist whose full float32 vectors are re-scored in the
  database, with liveness and each image's hotel and chain (pgvector: one statement),
  so similarities are exact and a hidden image never shows.
- Filtered searches go to the database backend (pgvector or exact), which filters
  inside its own search.
"""

import hashlib
import logging
import os
import threading
import uuid
from pathlib import Path

import hnswlib
import numpy as np
from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

from matcher.indexes import Neighbours, default_backend, projection, searchable_embeddings, top_k
from matcher.indexes.live_rows import LiveRows, read_vectors
from matcher.indexes.pgvector import nearest_sql, neighbours
from matcher.indexes.sql import pgvector_available, vector_literal
from matcher.models import stacked_vectors
from retrieval import pca

logger = logging.getLogger(__name__)

# As the pgvector graph over the projections (docs/benchmarks-history.md): at 1M, M 16 found
# 0.935 of the true top-100 at the time M 32 found 0.976.
GRAPH_M = 32
GRAPH_EF_CONSTRUCTION = 128
AUTO_BUILD_ROWS = 20_000  # ~10 s to build on 2 cores; larger galleries need the command
GROWTH = 1.5  # spare capacity on load and when full: resizing copies the graph


def graph_file(key: str) -> Path:
    """The rows file naming a key's graph (the graph itself sits beside it)."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return Path(settings.MATCHER_GRAPH_DIR) / f"graph-{digest}.npz"


def graph_mib(rows_file: Path) -> float:
    """Size on disk of a built graph: its rows file and the graph beside it."""
    paths = rows_file.parent.glob(f"{rows_file.stem}*")
    return sum(path.stat().st_size for path in paths) / 2**20


class GraphIndex(LiveRows):
    """`VectorIndex` walking an hnswlib graph in process memory (see the module docstring)."""

    accepts_hotel_filter = True

    def __init__(self, shortlist: int | None = None, threads: int = 1):
        self.shortlist = shortlist or settings.MATCHER_GRAPH_SHORTLIST
        self.threads = threads  # for inserts: a build uses every core
        self.progress = None  # called with the rows inserted, while building
        self._lock = threading.Lock()
        self._fallback = None
        self._in_sql = None  # whether pgvector re-scores the shortlist (checked once)
        self._reset("")

    def _reset(self, version: str) -> None:
        super()._reset(version)
        self.graph = None  # hnswlib.Index, created with the first vectors
        self.available = False  # a graph is loaded, or this gallery is built in process
        self.small = None  # whether this gallery may be built in process (counted once)
        self.unreadable = None  # mtime of a graph file that failed to load

    @property
    def fallback(self):
        """The database backend, for filtered searches and until a graph is ready."""
        if self._fallback is None:
            self._fallback = import_string(default_backend())()
        return self._fallback

    def search(self, query, k, image_ids=None, hotels=None):
        if image_ids is not None or hotels is not None:
            return self.fallback.search(query, k, image_ids=image_ids, hotels=hotels)
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        version, reduction = projection.serving()
        if not version or k <= 0:
            return []
        with self._lock:
            if not self.prepare(reduction.key if reduction else version):
                return self.fallback.search(query, k)
            if len(self.image_ids) == 0:
                return []
            try:
                candidates = self.candidates(query, reduction, k)
            except RuntimeError as error:  # hnswlib found fewer than asked (many deleted)
                logger.warning("graph walk failed (%s): searching the database", error)
                return self.fallback.search(query, k)
        if self._in_sql is None:
            self._in_sql = pgvector_available()
        rescore = rescore_in_sql if self._in_sql else rescore_in_python
        return rescore(query, version, candidates, k)

    def prepare(self, key: str) -> bool:
        """Follow `key`'s rows, opening its graph first; False when there is none yet."""
        if key != self.version:
            self._reset(key)
        if not self.available:
            self.available = self.open()
        if self.available:
            self.follow(key)
        return self.available

    def open(self) -> bool:
        """Load the built graph of `self.version`, or start one in process when small."""
        rows_file = graph_file(self.version)
        if rows_file.exists() and self.unreadable != rows_file.stat().st_mtime:
            try:
                self.load(rows_file)
                return True
            except (OSError, RuntimeError, ValueError, KeyError):  # rebuild it: logged
                logger.exception("cannot load %s: searching the database", rows_file)
                self.unreadable = rows_file.stat().st_mtime  # until a new file replaces it
        if self.small is None:
            rows = searchable_embeddings(self.version)[: AUTO_BUILD_ROWS + 1].count()
            self.small = rows <= AUTO_BUILD_ROWS
            if not self.small:
                logger.warning(
                    "no graph for %s: searching the database until `manage.py graph_index` "
                    "builds it",
                    self.version,
                )
        return self.small  # when small, `follow` reads every row into a new graph

    def candidates(self, query: np.ndarray, reduction, k: int) -> np.ndarray:
        """Image ids to re-score: the graph's nearest `shortlist`, or every row if fewer."""
        source_dim = projection.matrix_of(reduction).shape[0] if reduction else self.graph.dim
        if len(query) != source_dim:
            raise ValueError(
                f"query has {len(query)} dims, index {self.version!r} has {source_dim}"
            )
        size = max(k + k // 2, self.shortlist)
        if len(self.image_ids) <= size:
            return self.image_ids
        if reduction is not None:
            query = pca.project(query[None, :], projection.matrix_of(reduction))[0]
        self.graph.set_ef(size)
        labels, _ = self.graph.knn_query(query, k=size, num_threads=1)
        return labels[0]

    # --- building, loading, saving ---

    def build(self, key: str, progress=None) -> None:
        """A new graph of every searchable row of `key` (the command; 6 min at 1M)."""
        self._reset(key)
        self.progress = progress
        try:
            self.reconcile()
        finally:
            self.progress = None
        self.available = self.graph is not None

    def save(self) -> Path:
        """Write the graph, then its rows file (atomically): a reader sees a whole graph."""
        rows_file = graph_file(self.version)
        rows_file.parent.mkdir(parents=True, exist_ok=True)
        graph_path = rows_file.with_name(f"{rows_file.stem}-{uuid.uuid4().hex[:8]}.hnsw")
        self.graph.save_index(str(graph_path))
        partial = rows_file.with_suffix(".partial")
        with open(partial, "wb") as file:
            np.savez(
                file,
                key=self.version,
                graph=graph_path.name,
                dim=self.graph.dim,
                embedding_ids=self.embedding_ids,
                image_ids=self.image_ids,
            )
        os.replace(partial, rows_file)
        for old in rows_file.parent.glob(f"{rows_file.stem}-*.hnsw"):
            if old != graph_path:  # a process still reading it keeps its copy (POSIX)
                old.unlink(missing_ok=True)
        return rows_file

    def load(self, rows_file: Path) -> None:
        """Take the graph and rows in `rows_file`, or raise and keep nothing of them."""
        with np.load(rows_file) as rows:
            if str(rows["key"]) != self.version:
                raise ValueError(f"{rows_file} holds {rows['key']}, not {self.version}")
            embedding_ids, image_ids = rows["embedding_ids"], rows["image_ids"]
            dim, graph_name = int(rows["dim"]), str(rows["graph"])
        graph = hnswlib.Index(space="ip", dim=dim)
        capacity = int(len(image_ids) * GROWTH) + 1024
        graph.load_index(str(rows_file.with_name(graph_name)), max_elements=capacity)
        self.graph, self.embedding_ids, self.image_ids = graph, embedding_ids, image_ids
        # `follow` reconciles next: what changed since the build is applied then.

    # --- `LiveRows` hooks ---

    def _add(self, embedding_ids: np.ndarray) -> None:
        for ids, image_ids, vectors in read_vectors(embedding_ids):
            if self.graph is None:
                self.graph = new_graph(vectors.shape[1], len(embedding_ids))
            needed = self.graph.get_current_count() + len(ids)
            if needed > self.graph.get_max_elements():
                self.graph.resize_index(int(needed * GROWTH))
            # An image already in the graph (deleted, or an older vector) is updated in place.
            self.graph.add_items(vectors, image_ids, num_threads=self.threads)
            self.embedding_ids = np.concatenate([self.embedding_ids, ids]).astype(np.int64)
            self.image_ids = np.concatenate([self.image_ids, image_ids]).astype(np.int64)
            if self.progress:
                self.progress(len(ids))

    def _drop(self, gone: np.ndarray) -> None:
        if not gone.any():
            return
        for image_id in self.image_ids[gone].tolist():
            self.graph.mark_deleted(image_id)  # `_add` of the same image undeletes it
        self.embedding_ids = self.embedding_ids[~gone]
        self.image_ids = self.image_ids[~gone]


def new_graph(dim: int, capacity: int):
    graph = hnswlib.Index(space="ip", dim=dim)  # inner product of unit vectors: cosine
    graph.init_index(
        max_elements=max(capacity, 1024), M=GRAPH_M, ef_construction=GRAPH_EF_CONSTRUCTION
    )
    return graph


def rescore_sql(query: np.ndarray, version: str, image_ids, k: int) -> tuple[str, list]:
    """SQL and params of `rescore_in_sql` (also explained by scripts/bench_search_profile.py)."""
    where, ids = " AND e.image_id = ANY(%s)", [int(image_id) for image_id in image_ids]
    literal = vector_literal(query)
    return nearest_sql(literal, len(query), version, where, [ids], k, approximate=False)


def rescore_in_sql(query: np.ndarray, version: str, image_ids, k: int) -> Neighbours:
    """Top-k of `image_ids` by their `version` vectors, live ones, with owners (pgvector)."""
    with connection.cursor() as cursor:
        cursor.execute(*rescore_sql(query, version, image_ids, k))
        return neighbours(cursor.fetchall())


def rescore_in_python(query: np.ndarray, version: str, image_ids, k: int) -> Neighbours:
    """The same without pgvector: the stored float32 vectors, scored here."""
    rows = searchable_embeddings(version).filter(image_id__in=[int(i) for i in image_ids])
    owner = "image__submission__hotel"
    rows = list(rows.values_list("image_id", "vector", f"{owner}_id", f"{owner}__chain_id"))
    if not rows:
        return Neighbours([], owners={})
    found = np.array([row[0] for row in rows], dtype=np.int64)
    vectors = stacked_vectors(row[1] for row in rows)
    best = top_k(found, vectors @ query, k)
    owners = {image_id: (hotel_id, chain_id) for image_id, _, hotel_id, chain_id in rows}
    return Neighbours(best, owners={image_id: owners[image_id] for image_id, _ in best})
