"""`manage.py pgvector_index`: build the HNSW index serving a model version (PostgreSQL).

Search builds a missing index by itself only while the version is small (see
`matcher.indexes.pgvector.AUTO_BUILD_ROWS`); run this after a large `reembed` and before
the switch, or after restoring a big database. The build is CONCURRENTLY: uploads and
searches go on meanwhile (searches stay exact, and slow, until it is done).

`--reduce 256` (galleries of ~500k photos and more): learn a PCA projection from a
sample of the version's vectors, project every vector, and build the graph over the
projections instead; searches then re-score a shortlist with the full vectors
(`matcher.indexes.projection`). Re-running it resumes an interrupted backfill.

`--inline` (once, after migration `matcher.0005_inline_pgvector` on a database that
already held vectors): only moves the version's vectors from the TOAST table into
their rows, in short batches while searches go on; it builds nothing.
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from matcher.indexes import pgvector as pgvector_index
from matcher.indexes import projection, sql
from matcher.management.reduction import add_reduce_arguments, reduction
from matcher.models import Embedding, IndexState


class Command(BaseCommand):
    help = "Build the pgvector HNSW index for a model version (default: the active one)."

    def add_arguments(self, parser):
        parser.add_argument("--model-version", help="default: the active one")
        parser.add_argument(
            "--memory", default="2GB", help="maintenance_work_mem for the build (fits the graph)"
        )
        add_reduce_arguments(parser)
        parser.add_argument(
            "--inline",
            action="store_true",
            help="only move the version's vectors written before migration 0005 into their rows",
        )

    def handle(
        self, *args, model_version, memory, reduce=None, sample=None, inline=False, **options
    ):
        if not sql.pgvector_available():
            raise CommandError("the database has no pgvector column (PostgreSQL + pgvector only)")
        version = model_version or IndexState.get().active_version
        dim = Embedding.objects.filter(model_version=version).values_list("dim", flat=True).first()
        if not version or dim is None:
            raise CommandError(f"no vectors of version {version!r}")
        if inline:
            self.move_inline(version)
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [memory])
        if reduce is not None:
            reduced = reduction(self, version, reduce, sample or projection.DEFAULT_SAMPLE)
            version, dim = reduced.key, reduced.dim
        start = time.perf_counter()
        # CONCURRENTLY cannot run in a transaction (e.g. call_command inside one).
        concurrently = not connection.in_atomic_block
        created = pgvector_index.ensure_hnsw_index(version, dim, concurrently=concurrently)
        name = pgvector_index.hnsw_index_name(version, dim)
        if created:
            self.stdout.write(f"built {name} in {time.perf_counter() - start:.0f} s")
        else:
            self.stdout.write(f"{name} already exists")

    def move_inline(self, version: str) -> None:
        total = Embedding.objects.filter(model_version=version).count()
        start = time.perf_counter()
        with tqdm(total=total, desc="moving inline", unit="vec", file=sys.stderr) as bar:
            written = pgvector_index.move_inline(version, progress=bar.update)
        self.stdout.write(
            f"moved {written} vectors into their rows in {time.perf_counter() - start:.0f} s"
        )
