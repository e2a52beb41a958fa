"""`manage.py embed --pending`: embed waiting photos in batches (backfills, lost tasks).

`manage.py embed --local-features`: store the re-ranking keypoints of photos embedded
before workers stored them (SIFT only, no CNN; safe to rerun or interrupt).
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from matcher import embedding, live_rerank
from matcher.tasks import TRANSIENT_ERRORS
from rooms.models import RoomImage


class Command(BaseCommand):
    help = "Embed every pending room photo in batches, in this process."

    def add_arguments(self, parser):
        parser.add_argument("--pending", action="store_true", help="embed pending photos")
        parser.add_argument(
            "--local-features",
            action="store_true",
            help="store missing re-ranking keypoints of embedded photos",
        )
        parser.add_argument(
            "--retry-failed", action="store_true", help="put failed photos back to pending first"
        )
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--limit", type=int, default=None, help="at most this many photos")

    def handle(self, *args, pending, local_features, retry_failed, batch_size, limit, **options):
        if not (pending or local_features):
            raise CommandError("say what to embed: --pending and/or --local-features")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if pending:
            self.embed_pending(retry_failed, batch_size, limit, options["verbosity"])
        if local_features:  # after --pending: those photos got their keypoints already
            self.backfill_local_features(batch_size, limit, options["verbosity"])

    def embed_pending(self, retry_failed, batch_size, limit, verbosity):
        if retry_failed:
            reset = RoomImage.objects.filter(status=RoomImage.Status.FAILED).update(
                status=RoomImage.Status.PENDING, status_reason="", status_changed_at=timezone.now()
            )
            self.stdout.write(f"{reset} failed photos put back to pending")
        ids = list(embedding.pending_ids()[:limit])
        outcomes = self.embed_in_batches(ids, batch_size, verbosity)
        self.stdout.write(
            self.style.SUCCESS(
                f"{outcomes['embedded']} embedded, {outcomes['failed']} failed, "
                f"{outcomes['skipped']} skipped, {outcomes['left pending']} left pending "
                "after storage or database errors"
            )
        )

    def backfill_local_features(self, batch_size, limit, verbosity):
        ids = list(live_rerank.missing_local_ids()[:limit])
        outcomes = Counter()
        with tqdm(total=len(ids), unit="img", disable=verbosity < 1, file=self.stderr._out) as bar:
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                try:
                    outcomes += embedding.embed_local_features(batch)
                except TRANSIENT_ERRORS as exc:  # a later run picks them up
                    outcomes["left out"] += len(batch)
                    self.stderr.write(f"batch starting at image {batch[0]} left out: {exc}")
                bar.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"local features: {outcomes['stored']} stored, {outcomes['failed']} failed, "
                f"{outcomes['skipped']} skipped, {outcomes['left out']} left out "
                "after storage or database errors"
            )
        )

    def embed_in_batches(self, ids, batch_size, verbosity) -> Counter:
        extractor = embedding.get_extractor()
        outcomes = Counter()
        # tqdm redraws with "\r": give it the raw stream, not the newline-adding wrapper.
        with tqdm(total=len(ids), unit="img", disable=verbosity < 1, file=self.stderr._out) as bar:
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                try:
                    outcomes += embedding.embed_pending(
                        batch, extractor=extractor, batch_size=batch_size
                    )
                except TRANSIENT_ERRORS as exc:
                    # Claims were released: these stay pending for a later run or the sweeper.
                    outcomes["left pending"] += len(batch)
                    self.stderr.write(f"batch starting at image {batch[0]} left pending: {exc}")
                bar.update(len(batch))
        return outcomes
