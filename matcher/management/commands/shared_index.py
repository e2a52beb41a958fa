"""`manage.py shared_index`: build the snapshot the `SharedIndex` backend serves.

For `MATCHER_INDEX_BACKEND=matcher.indexes.shared.SharedIndex`: reads every searchable
vector of the active version with its hotel, writes a new snapshot directory into
`MATCHER_GRAPH_DIR` (FAISS HNSW graph over a PCA-256 projection above 50 000 rows,
full vectors, row owners) and serves it atomically. Every web process on the machine
maps the same files; each notices the new build on its next search and swaps to it in
the background. Uploads and searches go on meanwhile. Run it nightly (or through the
`matcher.tasks.rebuild_shared_index` task) so the per-process delta of new photos
stays small.
"""

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from matcher.indexes import searchable_embeddings, snapshot
from matcher.models import IndexState


class Command(BaseCommand):
    help = "Build and serve the shared, memory-mapped index snapshot (SharedIndex)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--threads", type=int, default=os.cpu_count(), help="build threads (default: all)"
        )

    def handle(self, *args, threads=None, **options):
        version = IndexState.get().active_version
        if not version:
            raise CommandError("no active model version: embed some photos first")
        total = searchable_embeddings(version).count()
        if not total:
            raise CommandError(f"no searchable vectors of {version!r}")
        start = time.perf_counter()
        with tqdm(total=total, desc="reading vectors", unit="vec", file=sys.stderr) as bar:
            built = snapshot.build(version, threads=max(1, threads or 1), progress=bar.update)
        size = sum(path.stat().st_size for path in built.iterdir()) / 2**20
        self.stdout.write(
            f"served {built} ({total} vectors of {version}) in "
            f"{time.perf_counter() - start:.0f} s; {size:.0f} MiB"
        )
