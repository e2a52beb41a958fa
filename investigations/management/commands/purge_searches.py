from django.core.management.base import BaseCommand

from investigations.selectors import searches_held
from investigations.services import searches_purge_expired


class Command(BaseCommand):
    help = "Delete searches (and their query photos) older than SEARCH_RETENTION_DAYS."

    def handle(self, *args, **options):
        count = searches_purge_expired()
        self.stdout.write(f"Deleted {count} expired search{'es' if count != 1 else ''}.")
        held = searches_held().count()
        if held:
            self.stdout.write(f"Kept {held} past retention: their cases are on legal hold.")
