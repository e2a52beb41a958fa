"""Embedding services: turn stored room photos into `Embedding` rows.

One code path for the Celery task (one image), `manage.py embed` (batches of pending
images) and `manage.py reembed` (already embedded images, new model version).

torch is imported only through `get_extractor()`, never at module import, so the web
process can import this module (and `matcher.tasks`) without loading a model.
"""

import functools
import io
import logging
from collections import Counter
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from matcher import live_rerank, whitened
from matcher.indexes import projection
from matcher.models import Embedding, IndexState
from rooms.models import RoomImage

logger = logging.getLogger(__name__)

PENDING = RoomImage.Status.PENDING
EMBEDDING = RoomImage.Status.EMBEDDING
EMBEDDED = RoomImage.Status.EMBEDDED
FAILED = RoomImage.Status.FAILED


@functools.cache
def get_extractor():
    """The production `DescriptorExtractor`, built once per process (loads the backbone)."""
    from retrieval.descriptors import DescriptorExtractor
    from rooms.intake import THUMBNAIL_MAX_SIDE

    extractor = DescriptorExtractor(serving_config(), runtime_from_settings())
    if decode_side(extractor) > THUMBNAIL_MAX_SIDE:
        raise ImproperlyConfigured(
            f"the descriptor needs {decode_side(extractor)} px but thumbnails, which the "
            f"workers read, have {THUMBNAIL_MAX_SIDE}: raise THUMBNAIL_MAX_SIDE and re-run intake"
        )
    return extractor


def serving_config(**levers):
    """The `DescriptorConfig` the gallery is embedded with (MATCHER_BACKBONE, _RESOLUTION,
    _NORMALISATION), with
    `levers` (backbone, resolution, normalisation...) changed, for the evaluation."""
    from retrieval.descriptors import DescriptorConfig

    serving = {
        "backbone": settings.MATCHER_BACKBONE,
        "resolution": settings.MATCHER_RESOLUTION,
        "normalisation": settings.MATCHER_NORMALISATION,
    }
    return DescriptorConfig(**{**serving, **levers})


def runtime_from_settings():
    """The backbone's `Runtime` from MATCHER_RUNTIME, MATCHER_THREADS and MATCHER_CACHE_DIR."""
    from retrieval.backbones import Runtime  # imports torch: only where a model runs

    return Runtime(settings.MATCHER_RUNTIME, settings.MATCHER_THREADS, settings.MATCHER_CACHE_DIR)


def decode_side(extractor) -> int:
    """Smallest long side the extractor needs: JPEG draft decoding may go down to it."""
    return round(extractor.config.resolution * max(extractor.config.scales))


# --- status transitions (each one conditional, so concurrent workers never collide) ---


def claim(image_id: int) -> bool:
    """pending -> embedding. False when another worker has it, or it is gone or hidden.

    A claim older than the task's hard time limit is taken over: no live task can
    hold one that long (the worker kills it), so its worker died (SIGKILL, OOM) and
    the broker has redelivered the message to us.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    # .update() skips auto_now, hence the explicit status_changed_at.
    claimed = (
        RoomImage.objects.filter(id=image_id)
        .filter(Q(status=PENDING) | Q(status=EMBEDDING, status_changed_at__lt=stale))
        .update(status=EMBEDDING, status_changed_at=now)
    )
    return claimed == 1


def release(image_ids) -> None:
    """embedding -> pending, so a retry (or the sweeper) can claim them again."""
    RoomImage.objects.filter(id__in=list(image_ids), status=EMBEDDING).update(
        status=PENDING, status_changed_at=timezone.now()
    )


def mark_failed(image_id: int, reason: str) -> None:
    """A permanent failure: kept out of the index, with the reason for an operator."""
    RoomImage.objects.filter(id=image_id, status__in=[PENDING, EMBEDDING]).update(
        status=FAILED, status_reason=reason[:1000], status_changed_at=timezone.now()
    )
    logger.warning("image %s failed to embed: %s", image_id, reason)


# --- loading ---


class UndecodableImage(ValueError):
    """The stored bytes are not an image we can decode (permanent: retrying won't help)."""


def stored_files(image_ids, status: str) -> dict[int, str]:
    """{id: file name} of those images still in `status`: the 512 px thumbnail when there
    is one (it decodes ~10x faster than the 2048 px copy and covers the 384 px the
    descriptor uses; `get_extractor` checks that), else the stored photo.

    Plain values, not model instances: loading a RoomImage whose width is unset makes
    Django's ImageField open the file to measure it, outside our error handling.
    """
    rows = RoomImage.objects.filter(id__in=list(image_ids), status=status)
    return {pk: thumb or file for pk, thumb, file in rows.values_list("id", "thumbnail", "file")}


def read_stored_bytes(name: str) -> bytes:
    """The stored file's bytes. OSError here is the storage's (transient), not the image's."""
    with RoomImage._meta.get_field("file").storage.open(name, "rb") as fh:
        return fh.read()


def decode(data: bytes, max_side: int):
    """Upright RGB PIL image; every decoder error becomes `UndecodableImage`."""
    from retrieval.images import load_image

    try:
        return load_image(io.BytesIO(data), max_side)
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, bomb errors...
        raise UndecodableImage(f"cannot decode the stored image: {exc}") from exc


# --- storing ---


def vector_bytes(vector: np.ndarray) -> bytes:
    vector = np.asarray(vector, dtype="<f4")
    if vector.ndim != 1 or not np.all(np.isfinite(vector)):
        raise ValueError(f"descriptor must be a finite 1-D vector, got shape {vector.shape}")
    return vector.tobytes()


def store_embedding(
    image_id: int, version: str, vector: np.ndarray, *, expect: str, local_features=None
) -> bool:
    """Save one vector (and its keypoints, if given) if the image is still in status
    `expect`; True when it was.

    `expect=EMBEDDING` (task and `embed`) also moves the image to `embedded`;
    `expect=EMBEDDED` (`reembed`) only adds the new version's vector. A second run for
    the same (image, version) keeps the first vector: the unique constraint and
    get_or_create make the task safe to run twice.
    """
    data = vector_bytes(vector)
    with transaction.atomic():
        # Locks the row on PostgreSQL, so a moderator hiding it waits for us or wins.
        still_there = RoomImage.objects.select_for_update().filter(id=image_id, status=expect)
        if not still_there.values_list("id", flat=True).first():  # deleted, hidden or reset
            return False
        row = Embedding(image_id=image_id, model_version=version, dim=len(vector), vector=data)
        row.full_clean(exclude=["image"], validate_unique=False, validate_constraints=False)
        Embedding.objects.get_or_create(
            image_id=image_id, model_version=version, defaults={"dim": row.dim, "vector": data}
        )
        projection.store_reduced(image_id, version, vector)
        whitened.store_whitened(image_id, version, vector)
        if local_features is not None:
            live_rerank.store_local_features(image_id, local_features)
        if expect == EMBEDDING:
            RoomImage.objects.filter(id=image_id).update(
                status=EMBEDDED, status_reason="", status_changed_at=timezone.now()
            )
        activate_if_unset(version)
    return True


def activate_if_unset(version: str) -> None:
    """The very first embedding decides which version the search serves."""
    IndexState.get()
    IndexState.objects.filter(pk=1, active_version="").update(
        active_version=version, updated_at=timezone.now()
    )


# --- the batch pipeline ---


def embed_pending(image_ids, *, extractor=None, batch_size: int = 16) -> Counter:
    """Claim, decode, describe and store pending images; returns outcome counts.

    Outcomes: `embedded`, `skipped` (claimed elsewhere, deleted or hidden), `failed`
    (undecodable: marked failed with a reason). Transient errors (storage OSError,
    DB OperationalError) propagate after the claims are released, for the caller to
    retry.
    """
    extractor = extractor or get_extractor()  # before claiming: a missing model is no image's fault
    outcomes = Counter()
    claimed = [image_id for image_id in image_ids if claim(image_id)]
    outcomes["skipped"] += len(image_ids) - len(claimed)
    try:
        files = stored_files(claimed, EMBEDDING)
        outcomes["skipped"] += len(claimed) - len(files)
        decoded = decode_or_fail(files, extractor, outcomes)
        store_all(decoded, extractor, EMBEDDING, outcomes, batch_size)
    except BaseException:
        release_quietly(claimed)
        raise
    return +outcomes  # without zero counts


def embed_new_version(image_ids, *, extractor=None, batch_size: int = 16) -> Counter:
    """Add the extractor's version to already embedded images (`reembed`)."""
    extractor = extractor or get_extractor()
    outcomes = Counter()
    decoded = {}
    for image_id, name in stored_files(image_ids, EMBEDDED).items():
        try:
            decoded[image_id] = decode(read_stored_bytes(name), decode_side(extractor))
        except UndecodableImage as exc:
            # It decoded before; leave its status alone and let the operator see it.
            logger.warning("image %s not re-embedded: %s", image_id, exc)
            outcomes["failed"] += 1
    store_all(decoded, extractor, EMBEDDED, outcomes, batch_size)
    return +outcomes


def embed_local_features(image_ids) -> Counter:
    """Backfill keypoints of embedded images that have none (no CNN needed).

    Outcomes: `stored`, `skipped` (no longer embedded), `failed` (undecodable now).
    """
    outcomes = Counter()
    files = stored_files(image_ids, EMBEDDED)
    outcomes["skipped"] += len(image_ids) - len(files)
    for image_id, name in files.items():
        try:
            image = decode(read_stored_bytes(name), live_rerank.LOCAL.max_side)
        except UndecodableImage as exc:
            logger.warning("image %s: no local features: %s", image_id, exc)
            outcomes["failed"] += 1
            continue
        features = live_rerank.describe_local(image)
        with transaction.atomic():
            # Hidden or deleted meanwhile: the row lock makes us wait for, or lose to, that.
            still_there = RoomImage.objects.select_for_update().filter(id=image_id, status=EMBEDDED)
            if still_there.values_list("id", flat=True).first():
                live_rerank.store_local_features(image_id, features)
                outcomes["stored"] += 1
            else:
                outcomes["skipped"] += 1
    return +outcomes


def decode_or_fail(files: dict[int, str], extractor, outcomes: Counter) -> dict:
    decoded = {}
    for image_id, name in files.items():
        data = read_stored_bytes(name)
        try:
            decoded[image_id] = decode(data, decode_side(extractor))
        except UndecodableImage as exc:
            mark_failed(image_id, str(exc))
            outcomes["failed"] += 1
    return decoded


def store_all(decoded: dict, extractor, expect: str, outcomes: Counter, batch_size: int) -> None:
    if not decoded:
        return
    ids = list(decoded)
    vectors = extractor.describe_images([decoded[i] for i in ids], batch_size=batch_size)
    for image_id, vector in zip(ids, vectors, strict=True):
        # Keypoints from the same decode: the 512 px thumbnail is what SIFT sees anyway.
        # They halve a worker's rate (docs/benchmarks.md), hence the switch.
        local = (
            live_rerank.describe_local(decoded[image_id])
            if settings.MATCHER_LOCAL_FEATURES
            else None
        )
        stored = store_embedding(
            image_id, extractor.version_key, vector, expect=expect, local_features=local
        )
        outcomes["embedded" if stored else "skipped"] += 1


def release_quietly(image_ids) -> None:
    try:
        release(image_ids)
    except Exception:  # the DB may be what failed; the sweeper resets them later
        logger.exception("could not release claims on %s", list(image_ids))


# --- selections used by the commands and the sweeper ---


def pending_ids() -> QuerySet:
    return RoomImage.objects.filter(status=PENDING).order_by("id").values_list("id", flat=True)


def missing_version_ids(version: str) -> QuerySet:
    """Embedded images that have no vector of `version` yet."""
    return (
        RoomImage.objects.filter(status=EMBEDDED)
        .exclude(embeddings__model_version=version)
        .order_by("id")
        .values_list("id", flat=True)
    )


def reset_stuck(older_than_seconds: int, limit: int = 1000) -> list[int]:
    """Images pending/embedding for too long go back to pending; returns their ids.

    The timestamp is refreshed too, so the next sweep does not enqueue them again
    while they still wait in a long queue.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = RoomImage.objects.filter(status__in=[PENDING, EMBEDDING], status_changed_at__lt=cutoff)
    ids = list(stuck.order_by("id").values_list("id", flat=True)[:limit])
    RoomImage.objects.filter(id__in=ids, status__in=[PENDING, EMBEDDING]).update(
        status=PENDING, status_changed_at=timezone.now()
    )
    return ids
