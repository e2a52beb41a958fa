"""Write services for traveller submissions and moderation of room photos."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from rooms import intake
from rooms.models import Hotel, RoomImage, Submission
from rooms.orphans import referenced_names

logger = logging.getLogger(__name__)

# Perceptual hashes this close (out of 64 bits) are the same view, re-shot or re-encoded.
NEAR_DUPLICATE_MAX_DISTANCE = 6


class SubmissionConflict(Exception):
    """A concurrent upload stored the same file first; retrying gives a clean answer."""


@dataclass(frozen=True)
class ImageOutcome:
    image: RoomImage
    # True: this exact file was already stored, and `image` is that earlier copy.
    duplicate: bool


@dataclass(frozen=True)
class SubmissionResult:
    submission: Submission
    images: list[ImageOutcome]


def submission_create(
    *, hotel: Hotel, room_number: str, files: list[UploadedFile]
) -> SubmissionResult:
    """Store a traveller's photos of one room; all or nothing.

    Every file is validated before anything is written (raises intake.UploadRejected).
    Files written before a later failure are deleted, so no row and no file remain.
    Raises ValidationError for a bad room number or file count.
    """
    _check_file_count(files)
    processed = intake.process_uploads(files)
    written: list[str] = []
    try:
        with transaction.atomic():
            submission = Submission(hotel=hotel, room_number=room_number.strip())
            submission.full_clean()
            submission.save()
            outcomes = _store_images(submission, processed, written)
    except IntegrityError as exc:
        _delete_files(written)
        raise SubmissionConflict("the same photo is being uploaded concurrently") from exc
    except BaseException:
        _delete_uncommitted(written)
        raise
    return SubmissionResult(submission=submission, images=outcomes)


def _check_file_count(files: list[UploadedFile]) -> None:
    limit = settings.UPLOAD_MAX_IMAGES
    if not 1 <= len(files) <= limit:
        raise ValidationError({"images": f"Send between 1 and {limit} photos."})


def _store_images(
    submission: Submission, processed: list[intake.ProcessedImage], written: list[str]
) -> list[ImageOutcome]:
    # Near duplicates are looked for within the hotel only: cheap, and the only place
    # a re-shot photo of the same room can be.
    known = list(
        RoomImage.objects.filter(submission__hotel_id=submission.hotel_id).values_list(
            "id", "phash"
        )
    )
    outcomes = []
    for item in processed:
        existing = RoomImage.objects.filter(sha256=item.sha256).first()
        if existing:
            outcomes.append(ImageOutcome(image=existing, duplicate=True))
            continue
        image = _image_create(submission, item, _nearest(item.phash, known), written)
        known.append((image.id, image.phash))
        outcomes.append(ImageOutcome(image=image, duplicate=False))
    return outcomes


def _nearest(phash: str, known: list[tuple[int, str]]) -> int | None:
    best_id, best_distance = None, NEAR_DUPLICATE_MAX_DISTANCE + 1
    for image_id, other in known:
        distance = phash_distance(phash, other)
        if distance < best_distance:
            best_id, best_distance = image_id, distance
    return best_id


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex perceptual hashes."""
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:  # a missing hash is never a near duplicate
        return 64


def _image_create(
    submission: Submission,
    item: intake.ProcessedImage,
    near_duplicate_of_id: int | None,
    written: list[str],
) -> RoomImage:
    image = RoomImage(
        submission=submission,
        sha256=item.sha256,
        phash=item.phash,
        near_duplicate_of_id=near_duplicate_of_id,
        flagged_reason=item.flagged_reason,
        captured_at=item.captured_at,
        camera_model=item.camera_model,
    )
    # A named ContentFile: Django reads the dimensions from it (a nameless one counts as
    # "no file" and would leave width and height empty).
    image.file.save("photo.jpg", ContentFile(item.content, name="photo.jpg"), save=False)
    written.append(image.file.name)
    image.thumbnail.save("thumb.jpg", ContentFile(item.thumbnail, name="thumb.jpg"), save=False)
    written.append(image.thumbnail.name)
    image.full_clean()
    image.save()
    # After commit only: the worker must find the row, and a rolled-back upload must
    # not be embedded. robust: a broker outage must not fail a committed upload; the
    # stuck-image sweeper re-enqueues anything left pending.
    # (A lambda, not functools.partial: Django names the callback when it logs a
    # robust hook's error, and a partial has no __qualname__.)
    transaction.on_commit(lambda image_id=image.id: _enqueue_embedding(image_id), robust=True)
    return image


def _enqueue_embedding(image_id: int) -> None:
    from matcher.tasks import embed_image  # the matcher app owns the task

    embed_image.delay(image_id)


def _delete_uncommitted(names: list[str]) -> None:
    """Delete the files whose rows did not commit.

    An error can also come after the commit (from an on_commit hook): the files of
    committed rows must stay. When the database cannot tell, keep them all: the
    orphan-file sweep (rooms/orphans.py) removes the ones no row refers to.
    """
    if not names:
        return
    try:
        committed = referenced_names(names)
    except Exception:
        logger.exception("could not tell which files of a failed upload committed")
        return
    _delete_files([name for name in names if name not in committed])


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # keep deleting the others; an orphan is logged, not fatal
            logger.exception("could not delete %s after a failed upload", name)


def image_hide(image: RoomImage, *, reason: str = "") -> RoomImage:
    """Take a photo out of search and public view (moderation); it is never matched."""
    with transaction.atomic():
        image = RoomImage.objects.select_for_update().get(pk=image.pk)
        image.status = RoomImage.Status.HIDDEN
        image.status_reason = reason or "hidden by a moderator"
        image.full_clean()
        image.save(update_fields=["status", "status_reason", "status_changed_at"])
    return image


def image_clear_flag(image: RoomImage) -> RoomImage:
    """A moderator checked a flagged photo: it may now be matched and shown."""
    with transaction.atomic():
        image = RoomImage.objects.select_for_update().get(pk=image.pk)
        image.flagged_reason = ""
        image.full_clean()
        # status_changed_at (auto_now) tells the in-process index to look at it again.
        image.save(update_fields=["flagged_reason", "status_changed_at"])
    return image
