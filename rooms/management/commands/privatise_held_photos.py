"""`manage.py privatise_held_photos`: move the files of photos that may not be published
(held for a moderator, quarantined, hidden) out of public media. Run once after
migration rooms.0003, when files started to follow the moderation state; safe to rerun."""

from django.core.management.base import BaseCommand

from rooms.services import images_privatise


class Command(BaseCommand):
    help = "Move held, quarantined and hidden photos' files into private storage."

    def handle(self, *args, **options):
        self.stdout.write(f"{images_privatise()} photo(s) moved to private storage.")
