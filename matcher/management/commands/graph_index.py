"""`manage.py graph_index`: build the in-process graph the `GraphIndex` backend serves.

For `MATCHER_INDEX_BACKEND=matcher.indexes.graph.GraphIndex` on a gallery larger than
`matcher.indexes.graph.AUTO_BUILD_ROWS`: reads every searchable vector of the served
key (the active version's newest complete PCA projection, else the version itself),
builds the HNSW graph on every core and writes it into `MATCHER_GRAPH_DIR`, whole or
not at all. Web processes load it on their next search and keep it live from then on;
uploads and searches go on meanwhile (searches use the database until then).

`--reduce 256` first learns and backfills that projection, as `pgvector_index
--reduce` does (1M on 2 cores: ~4 min, then ~6 min for the graph; docs/benchmarks.md).
"""

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from matcher.indexes import projection, searchable_embeddings
from matcher.indexes.graph import GraphIndex, graph_mib
from matcher.management.reduction import add_reduce_arguments, reduction
from matcher.models import IndexState


class Command(BaseCommand):
    help = "Build the in-process HNSW graph (GraphIndex) for the active model version."

    def add_arguments(self, parser):
        add_reduce_arguments(parser)
        parser.add_argument(
            "--threads", type=int, default=os.cpu_count(), help="insert threads (default: all)"
        )

    def handle(self, *args, reduce=None, sample=None, threads=None, **options):
        version = IndexState.get().active_version
        if not version:
            raise CommandError("no active model version: embed some photos first")
        if reduce is not None:
            reduction(self, version, reduce, sample or projection.DEFAULT_SAMPLE)
        _, reduced = projection.serving()
        key = reduced.key if reduced else version
        total = searchable_embeddings(key).count()
        if not total:
            raise CommandError(f"no searchable vectors of {key!r}")
        index = GraphIndex(threads=max(1, threads or 1))
        start = time.perf_counter()
        with tqdm(total=total, desc="building graph", unit="vec", file=sys.stderr) as bar:
            index.build(key, progress=bar.update)
        built = time.perf_counter() - start
        rows_file = index.save()
        self.stdout.write(
            f"built the graph of {key} ({len(index.image_ids)} vectors) in {built:.0f} s; "
            f"{rows_file} and its graph: {graph_mib(rows_file):.0f} MiB"
        )
