"""Celery tasks of the rooms app (periodic, scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.conf import settings

from rooms.orphans import orphan_files_delete


@shared_task
def sweep_orphan_files() -> int:
    """Periodic: delete photo files left by uploads killed before their rows committed."""
    return len(orphan_files_delete(older_than_seconds=settings.ORPHAN_FILE_MIN_AGE_SECONDS))
