"""Celery tasks of the matcher: embed one photo, and sweep photos whose task got lost.

Tasks take ids only. The web process imports this module (to enqueue), so nothing
here imports torch at module level: the extractor is built inside the worker.
"""

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import OperationalError, transaction

from matcher import embedding

logger = logging.getLogger(__name__)

# Worth retrying: storage hiccups (S3, NFS) and a DB that is restarting or locked.
TRANSIENT_ERRORS = (OSError, OperationalError)
MAX_RETRIES = 5


def retry_countdown(retries: int) -> float:
    """Exponential backoff (2, 4, 8... s, capped at 5 min) with full jitter."""
    return random.uniform(0, min(300, 2 ** (retries + 1)))


@worker_process_init.connect
def load_model_in_worker(**kwargs):
    """Load the CNN once per worker process, before the first task waits on it.

    The backbone runs on settings.MATCHER_THREADS threads (default 1): one worker
    process per core, since a thread pool spin-waits when cores are shared (a
    2-thread forward measured 1.6 s/photo against 0.03 s with 1 thread).
    """
    try:
        embedding.get_extractor()
    except Exception:  # the task retries the load and reports the error there
        logger.exception("could not load the descriptor extractor at worker start")


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def embed_image(self, image_id: int) -> str:
    """Embed one room photo; safe to run twice, on deleted or hidden photos too.

    Returns the outcome: "embedded", "skipped" or "failed".
    """
    try:
        outcomes = embedding.embed_pending([image_id])
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            embedding.mark_failed(image_id, f"gave up after {self.max_retries} retries: {exc}")
            return "failed"
        logger.info("image %s: transient error, retrying: %s", image_id, exc)
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    except SoftTimeLimitExceeded:
        embedding.mark_failed(image_id, "embedding took longer than the task time limit")
        return "failed"
    return next(iter(outcomes))


@shared_task
def requeue_stuck_images() -> int:
    """Periodic: re-enqueue images whose task was lost (worker killed, broker flushed)."""
    ids = embedding.reset_stuck(settings.EMBED_STUCK_AFTER_SECONDS)
    for image_id in ids:
        transaction.on_commit(lambda image_id=image_id: embed_image.delay(image_id))
    if ids:
        logger.info("re-enqueued %d stuck images", len(ids))
    return len(ids)


@shared_task
def fill_projections() -> int:
    """Periodic: project vectors that a worker stored without their PCA copy.

    A worker checks for projections as it stores each vector, but one that read
    "none" just before `pgvector_index --reduce` created one writes without it.
    """
    from matcher.indexes import projection
    from matcher.models import Projection

    written = sum(projection.backfill(p) for p in Projection.objects.all())
    if written:
        logger.info("wrote %d missing PCA projections", written)
    return written


def train_and_promote(**params):
    """`learning.train`, then the batches writing the new vectors when it is better."""
    from matcher import learning

    row = learning.train(**params)
    if row.state == row.State.PROMOTING:
        transaction.on_commit(lambda: promote(row.pk))
    return row


def promote(whitening_id: int) -> int:
    """One `whiten_batch` task per `learning.BATCH` searchable photos; returns the count."""
    from matcher import learning
    from matcher.indexes import searchable_embeddings
    from matcher.models import LearnedWhitening

    row = LearnedWhitening.objects.get(pk=whitening_id)
    ids = searchable_embeddings(row.base_version).order_by("image_id")
    ids = list(ids.values_list("image_id", flat=True))
    batches = [ids[start : start + learning.BATCH] for start in range(0, len(ids), learning.BATCH)]
    for batch in batches:
        whiten_batch.delay(whitening_id, batch[0], batch[-1])
    if not batches:
        learning.finish_if_complete(row)
    return len(batches)


@shared_task(acks_late=True)
def train_descriptor(**params) -> str:
    """Fit a learned whitening on the gallery's hotels; promote it when it is better."""
    return train_and_promote(**params).state


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def whiten_batch(self, whitening_id: int, first_image: int, last_image: int) -> int:
    """Write one batch of a promoted whitening's vectors (idempotent)."""
    from matcher import learning

    try:
        return learning.whiten_range(whitening_id, first_image, last_image)
    except TRANSIENT_ERRORS as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


@shared_task
def resume_promotions() -> int:
    """Periodic: re-enqueue the batches of promotions whose tasks were lost."""
    from matcher import learning
    from matcher.models import LearnedWhitening

    promoting = LearnedWhitening.objects.filter(state=LearnedWhitening.State.PROMOTING)
    return sum(promote(row.pk) for row in promoting if not learning.finish_if_complete(row))


@shared_task(acks_late=True, soft_time_limit=2700, time_limit=3000)
def rebuild_shared_index() -> str:
    """A new `SharedIndex` snapshot of the active version, served when whole.

    Runs beside searches: web processes keep the old snapshot until they have opened
    and caught up the new one. One build at a time (a cache lock), since two would
    only race to be served. ~16 min at 1M photos on 2 cores: the limits (under the
    broker's visibility timeout) allow ~2.5M; beyond, run `manage.py shared_index`
    (or give the worker more cores: `MATCHER_THREADS`).
    """
    from django.core.cache import cache

    from matcher.indexes import SHARED_BACKEND, snapshot
    from matcher.models import IndexState

    if settings.MATCHER_INDEX_BACKEND != SHARED_BACKEND:
        return "not serving SharedIndex"
    version = IndexState.get().active_version
    if not version:
        return "no active version"
    if not cache.add("matcher:rebuild-shared-index", 1, timeout=4 * 3600):
        return "already building"
    try:
        return str(snapshot.build(version, threads=settings.MATCHER_THREADS))
    finally:
        cache.delete("matcher:rebuild-shared-index")
