"""`manage.py bench_evidence`: time to draw a match's evidence on the seeded demo.

For each query (an unseen view of a demo room with a "person" erased, as in
`bench_search`) a search is stored, then for its top match:

- heatmap pair: `heatmap_png(side="pair")` with an empty cache: the stored photo and
  mask decoded and prepared, one network pass per query turn and one for the gallery
  photo, the cell split, both overlays drawn and the PNG written;
- heatmap layer: the query's overlay once the cells are cached (what the compare
  view's toggle asks for next);
- correspondences: `correspondences_png` with an empty cache (SIFT on the query,
  ratio test and RANSAC against the stored keypoints, lines drawn).

Everything runs in a transaction that is rolled back, with a temporary private folder.
Run `manage.py seed_demo` first.
"""

import statistics
import tempfile
import time

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import override_settings

from benchmarks.management.commands.bench_search import (
    FIRST_UNSEEN_VIEW,
    Rollback,
    parse_size,
    percentile,
    query_files,
    upload,
)
from rooms.models import Hotel

PHASES = ("heatmap pair", "heatmap layer", "correspondences")


class Command(BaseCommand):
    help = "Latency (p50/p95) of heat maps and correspondence drawings on the seeded demo."

    def add_arguments(self, parser):
        parser.add_argument("--queries", type=int, default=20)
        parser.add_argument("--size", default="1280x960", help="query photo size")

    def handle(self, *args, queries, size, **options):
        from matcher.embedding import get_extractor

        hotels = list(
            Hotel.objects.filter(external_ref__startswith="DEMO-").select_related("chain")
        )
        if not hotels:
            raise CommandError("no demo hotels: run `manage.py seed_demo` first")
        get_extractor()
        width, height = parse_size(size)
        cases = [
            query_files(hotels[n % len(hotels)], FIRST_UNSEEN_VIEW + n, (width, height))
            for n in range(queries + 1)
        ]
        timings = {phase: [] for phase in PHASES}
        with (
            tempfile.TemporaryDirectory() as private,
            override_settings(PRIVATE_MEDIA_ROOT=private),
        ):
            try:
                with transaction.atomic():
                    for n, (jpeg, mask) in enumerate(cases):
                        measured = self.time_one(jpeg, mask)
                        if n:  # the first is a warm-up
                            for phase, ms in measured.items():
                                timings[phase].append(ms)
                    raise Rollback
            except Rollback:
                pass
        self.stdout.write(f"{width}x{height} query + mask, {queries} queries, top match")
        self.stdout.write(f"  {'phase':16s} {'p50 ms':>8s} {'p95 ms':>8s} {'mean ms':>8s}")
        for phase, values in timings.items():
            self.stdout.write(
                f"  {phase:16s} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
                f"{statistics.fmean(values):8.1f}"
            )

    def time_one(self, jpeg, mask) -> dict:
        from investigations import evidence
        from investigations.presenting import revision_of
        from investigations.services import investigator_create, search_create

        user, _ = investigator_create(username=f"bench-{time.monotonic_ns()}", team_name="b")
        search = search_create(
            user=user, image_file=upload(jpeg, "q.jpg"), mask_file=upload(mask, "m.png")
        )
        revision = revision_of(search)
        image_id = revision.hotels[0]["matches"][0]["image_id"]
        cache.clear()
        t0 = time.perf_counter()
        evidence.heatmap_png(search, revision, image_id, "pair")
        t1 = time.perf_counter()
        evidence.heatmap_png(search, revision, image_id, "query")
        t2 = time.perf_counter()
        evidence.correspondences_png(search, revision, image_id)
        t3 = time.perf_counter()
        return {
            "heatmap pair": (t1 - t0) * 1000,
            "heatmap layer": (t2 - t1) * 1000,
            "correspondences": (t3 - t2) * 1000,
        }
