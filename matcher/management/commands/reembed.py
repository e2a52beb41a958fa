"""`manage.py reembed`: embed every photo with the current model, then switch the search.

Search keeps serving `IndexState.active_version` while this runs; photos embedded in
the meantime by workers are picked up by the next pass. The switch happens only once
every embedded photo has a vector of the new version (or with --force).
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from matcher import embedding
from matcher.models import Embedding, IndexState

MAX_PASSES = 5


class Command(BaseCommand):
    help = "Embed all embedded photos with the current extractor, then make it the active one."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument(
            "--force", action="store_true", help="switch even if some photos could not be embedded"
        )
        parser.add_argument(
            "--delete-old", action="store_true", help="delete other versions' vectors after"
        )

    def handle(self, *args, batch_size, force, delete_old, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        extractor = embedding.get_extractor()
        version = extractor.version_key
        active = IndexState.get().active_version
        self.stdout.write(f"serving {active or '(nothing)'}; embedding with {version}")
        outcomes = self.embed_missing(extractor, version, batch_size, options["verbosity"])
        left = embedding.missing_version_ids(version).count()
        if left and not force:
            raise CommandError(
                f"{left} photos still lack a {version} vector ({outcomes['failed']} failed to "
                f"decode); search stays on {active or '(nothing)'}. Fix them or use --force."
            )
        self.switch(version)
        if delete_old:
            deleted, _ = Embedding.objects.exclude(model_version=version).delete()
            self.stdout.write(f"deleted {deleted} vectors of other versions")
        self.stdout.write(self.style.SUCCESS(f"search now serves {version}"))

    def embed_missing(self, extractor, version, batch_size, verbosity) -> Counter:
        """Passes until nothing new is missing (workers may add photos meanwhile)."""
        outcomes, tried = Counter(), set()
        for _ in range(MAX_PASSES):
            ids = [i for i in embedding.missing_version_ids(version) if i not in tried]
            if not ids:
                break
            tried.update(ids)
            # tqdm redraws with "\r": give it the raw stream, not the newline-adding wrapper.
            with tqdm(
                total=len(ids), unit="img", disable=verbosity < 1, file=self.stderr._out
            ) as bar:
                for start in range(0, len(ids), batch_size):
                    batch = ids[start : start + batch_size]
                    outcomes += embedding.embed_new_version(
                        batch, extractor=extractor, batch_size=batch_size
                    )
                    bar.update(len(batch))
        return outcomes

    @transaction.atomic
    def switch(self, version: str) -> None:
        state = IndexState.objects.select_for_update().get(pk=IndexState.get().pk)
        state.active_version = version
        state.full_clean()
        state.save()
