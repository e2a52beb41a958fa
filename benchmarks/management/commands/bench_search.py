"""`manage.py bench_search`: investigator query latency on the seeded demo (not a test).

Each query is a new photo of a demo hotel's room (a view no traveller uploaded), at
phone resolution, with a mask over a "person" in the middle. Phases, timed apart:

- prepare: decode, EXIF, mask check, fill the erased pixels (`prepare_query`)
- embed: CNN forward and masked pooling (`describe_query`)
- local: the query's SIFT keypoints, erased pixels excluded (`describe_local`)
- knn: the index's nearest-neighbour search alone
- rank: the rest of `search_hotels` (SIFT + RANSAC verification of the top 30,
  image -> hotel lookups, aggregation, chains)
- total: `search_create` itself, writes included (row, private file, audit), inside a
  transaction that is rolled back and with a temporary private folder: nothing stays.

Run `manage.py seed_demo` first.
"""

import io
import statistics
import tempfile
import time

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import override_settings
from PIL import Image

from demo.images import photo, render_room, style_for
from rooms.models import Hotel

FIRST_UNSEEN_VIEW = 50  # seed_demo uses views 0..4


class Rollback(Exception):
    """Raised to undo the benchmark's rows."""


def percentile(values, q) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def parse_size(text) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"size {text!r}: use WIDTHxHEIGHT, e.g. 4032x3024") from None
    return width, height


def query_files(hotel, view, size) -> tuple[bytes, bytes]:
    """(JPEG, PNG mask) of an unseen view of the hotel's demo room."""
    style = style_for(hotel.chain.name if hotel.chain else hotel.external_ref, hotel.external_ref)
    image = photo(style, view, size=size, room=render_room(style))
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=90)
    width, height = size
    mask = Image.new("L", size, 0)
    # A standing figure in front of the bed: 20% of the width, 70% of the height.
    mask.paste(255, (int(width * 0.4), int(height * 0.25), int(width * 0.6), int(height * 0.95)))
    png = io.BytesIO()
    mask.save(png, "PNG")
    return jpeg.getvalue(), png.getvalue()


class Command(BaseCommand):
    help = "Query latency (p50/p95 per phase) of investigator searches on the seeded demo."

    def add_arguments(self, parser):
        parser.add_argument("--queries", type=int, default=20, help="queries per photo size")
        parser.add_argument("--sizes", default="1280x960,4032x3024", help="query photo sizes")
        parser.add_argument("--k", type=int, default=10, help="hotels per search")
        parser.add_argument("--threads", type=int, default=None, help="torch threads")

    def handle(self, *args, queries, sizes, k, threads, **options):
        from matcher.embedding import get_extractor

        if queries < 1:
            raise CommandError("--queries must be at least 1")
        hotels = list(
            Hotel.objects.filter(external_ref__startswith="DEMO-").select_related("chain")
        )
        if not hotels:
            raise CommandError("no demo hotels: run `manage.py seed_demo` first")
        self.set_threads(threads)
        start = time.perf_counter()
        extractor = get_extractor()
        self.stdout.write(
            f"{extractor.version_key}; model load {time.perf_counter() - start:.2f} s "
            f"(once per process); {len(hotels)} demo hotels; k={k}"
        )
        for size in map(parse_size, sizes.split(",")):
            self.bench_size(hotels, size, queries, k)

    def set_threads(self, threads):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.stdout.write(f"torch threads: {torch.get_num_threads()}")

    def bench_size(self, hotels, size, count, k):
        cases = [
            (hotel, *query_files(hotel, FIRST_UNSEEN_VIEW + n // len(hotels), size))
            for n, hotel in ((n, hotels[n % len(hotels)]) for n in range(count))
        ]
        self.run_once(*cases[0][1:], k)  # warm-up: index load, first-call allocations
        phases = ("prepare", "embed", "local", "knn", "rank", "total")
        timings = {phase: [] for phase in phases}
        top1 = 0
        for hotel, jpeg, mask in cases:
            for phase, seconds in self.time_phases(jpeg, mask, k).items():
                timings[phase].append(seconds * 1000)
            best, seconds = self.run_once(jpeg, mask, k)
            timings["total"].append(seconds * 1000)
            top1 += best == hotel.pk
        self.report(size, len(cases[0][1]), timings, top1, count)

    def time_phases(self, jpeg, mask, k) -> dict:
        from investigations.query import prepare_query
        from matcher.indexes import get_index
        from matcher.live_rerank import describe_local
        from matcher.search import search_hotels, search_turns
        from matcher.services import describe_query

        t0 = time.perf_counter()
        prepared = prepare_query(upload(jpeg, "q.jpg"), upload(mask, "m.png"))
        t1 = time.perf_counter()
        vector, _ = describe_query(prepared.image, prepared.mask)
        t2 = time.perf_counter()
        local = describe_local(prepared.image, prepared.mask)
        t2b = time.perf_counter()
        search_turns(get_index(), vector, max(100, 20 * k), {})  # search_hotels' first request
        t3 = time.perf_counter()
        search_hotels(vector, k=k, query_features=local)
        t4 = time.perf_counter()
        # search_hotels runs the same knn (each turn of the query) again: the rest of its
        # time is the ranking.
        return {
            "prepare": t1 - t0,
            "embed": t2 - t1,
            "local": t2b - t2,
            "knn": t3 - t2b,
            "rank": (t4 - t3) - (t3 - t2b),
        }

    def run_once(self, jpeg, mask, k) -> tuple[int | None, float]:
        """search_create end to end; returns (best hotel id, seconds). Rolled back."""
        from investigations.services import investigator_create, search_create

        best, seconds = None, 0.0
        with (
            tempfile.TemporaryDirectory() as private,
            override_settings(PRIVATE_MEDIA_ROOT=private),
        ):
            try:
                with transaction.atomic():
                    user, _ = investigator_create(username="bench-search", team_name="bench")
                    start = time.perf_counter()
                    search = search_create(
                        user=user,
                        image_file=upload(jpeg, "q.jpg"),
                        mask_file=upload(mask, "m.png"),
                        k=k,
                    )
                    seconds = time.perf_counter() - start
                    best = search.hotels[0]["hotel"]["id"] if search.hotels else None
                    raise Rollback
            except Rollback:
                pass
        return best, seconds

    def report(self, size, jpeg_bytes, timings, top1, count):
        width, height = size
        self.stdout.write(
            f"\n{width}x{height} JPEG q90 (~{jpeg_bytes // 1024} KiB) + PNG mask, "
            f"{count} queries; top-1 correct {top1}/{count}"
        )
        self.stdout.write(f"  {'phase':8s} {'p50 ms':>8s} {'p95 ms':>8s} {'mean ms':>8s}")
        for phase, values in timings.items():
            self.stdout.write(
                f"  {phase:8s} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
                f"{statistics.fmean(values):8.1f}"
            )


def upload(data, name) -> SimpleUploadedFile:
    content_type = "image/png" if name.endswith(".png") else "image/jpeg"
    return SimpleUploadedFile(name, data, content_type)
