from django.conf import settings
from django.core.management.base import BaseCommand

from rooms.orphans import orphan_files_delete


class Command(BaseCommand):
    help = "Delete photo files under MEDIA_ROOT/rooms/ that no RoomImage row refers to."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=settings.ORPHAN_FILE_MIN_AGE_SECONDS,
            help="Only files at least this many seconds old (default: %(default)s). "
            "Younger files may belong to an upload that is still committing.",
        )

    def handle(self, *args, older_than, **options):
        deleted = orphan_files_delete(older_than_seconds=older_than)
        for name in deleted:
            self.stdout.write(f"deleted {name}")
        self.stdout.write(f"{len(deleted)} orphan files deleted")
