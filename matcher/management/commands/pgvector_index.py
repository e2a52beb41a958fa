"""`manage.py pgvector_index`: build the HNSW index serving a model version (PostgreSQL).

Search builds a missing index by itself only while the version is small (see
`matcher.pgvector_index.AUTO_BUILD_ROWS`); run this after a large `reembed` and before
the switch, or after restoring a big database. The build is CONCURRENTLY: uploads and
searches go on meanwhile (searches stay exact, and slow, until it is done).
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from matcher import pgvector_index
from matcher.models import Embedding, IndexState


class Command(BaseCommand):
    help = "Build the pgvector HNSW index for a model version (default: the active one)."

    def add_arguments(self, parser):
        parser.add_argument("--version", dest="model_version", help="default: the active one")
        parser.add_argument(
            "--memory", default="2GB", help="maintenance_work_mem for the build (fits the graph)"
        )

    def handle(self, *args, model_version, memory, **options):
        if not pgvector_index.pgvector_available():
            raise CommandError("the database has no pgvector column (PostgreSQL + pgvector only)")
        version = model_version or IndexState.get().active_version
        dim = Embedding.objects.filter(model_version=version).values_list("dim", flat=True).first()
        if not version or dim is None:
            raise CommandError(f"no vectors of version {version!r}")
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [memory])
        start = time.perf_counter()
        created = pgvector_index.ensure_hnsw_index(version, dim, concurrently=True)
        name = pgvector_index.hnsw_index_name(version, dim)
        if created:
            self.stdout.write(f"built {name} in {time.perf_counter() - start:.0f} s")
        else:
            self.stdout.write(f"{name} already exists")
