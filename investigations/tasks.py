"""Periodic work: the retention purge (scheduled hourly in CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task

from investigations.selectors import searches_held
from investigations.services import searches_purge_expired

logger = logging.getLogger(__name__)


@shared_task
def purge_expired_searches() -> int:
    """Idempotent: a rerun finds nothing left to delete."""
    count = searches_purge_expired()
    if count:
        logger.info("purged %d expired searches", count)
    held = searches_held().count()
    if held:
        logger.info("kept %d searches past retention: their cases are on legal hold", held)
    return count
