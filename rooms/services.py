"""Write services for traveller submissions and moderation of room photos.

Where a photo's files live follows its moderation state (rooms/storage.py): public
media while it may be published, private storage while it waits for a moderator, is
quarantined or hidden. Every change of state moves the files in the same transaction.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from rooms import intake, screening, storage
from rooms.models import (
    PROPOSED_HOTEL_REASON,
    BlockedUpload,
    Hotel,
    PhashBand,
    RoomImage,
    Submission,
    digest_of_receipt,
    new_receipt,
)
from rooms.orphans import referenced_names
from rooms.screening import NEAR_DUPLICATE_MAX_DISTANCE, phash_distance

logger = logging.getLogger(__name__)

__all__ = ["NEAR_DUPLICATE_MAX_DISTANCE", "phash_distance"]  # re-exported for callers


class SubmissionConflict(Exception):
    """A concurrent upload stored the same file first; retrying gives a clean answer."""


class UploadBlocked(Exception):
    """A photo matched the list of known abuse material: refused, recorded, nothing kept.

    Its message is neutral on purpose: it tells the sender nothing about the list.
    """

    detail = gettext_lazy("This upload could not be accepted.")


@dataclass(frozen=True)
class ImageOutcome:
    image: RoomImage
    # True: this exact file was already stored, and `image` is that earlier copy.
    duplicate: bool


@dataclass(frozen=True)
class SubmissionResult:
    submission: Submission
    images: list[ImageOutcome]
    # The traveller's key to the status of their photos; only its digest is stored.
    receipt: str


def submission_create(
    *,
    hotel: Hotel,
    room_number: str,
    files: list[UploadedFile],
    client_address: str | None = None,
) -> SubmissionResult:
    """Store a traveller's photos of one room; all or nothing.

    Every file is validated before anything is written (raises intake.UploadRejected),
    and screened: a photo on the abuse list refuses the whole upload (UploadBlocked,
    recorded with `client_address`). Files written before a later failure are deleted,
    so no row and no file remain. Raises ValidationError for a bad room number or file
    count.
    """
    _check_file_count(files)
    processed = intake.process_uploads(files)
    _refuse_blocked(processed, client_address)
    receipt = new_receipt()
    written: list[str] = []
    try:
        with transaction.atomic():
            submission = Submission(
                hotel=hotel,
                room_number=room_number.strip(),
                receipt_digest=digest_of_receipt(receipt),
            )
            submission.full_clean()
            submission.save()
            outcomes = _store_images(submission, processed, written)
    except IntegrityError as exc:
        storage.delete_files(written, "after a failed upload")
        raise SubmissionConflict("the same photo is being uploaded concurrently") from exc
    except BaseException:
        _delete_uncommitted(written)
        raise
    return SubmissionResult(submission=submission, images=outcomes, receipt=receipt)


def _refuse_blocked(processed: list[intake.ProcessedImage], client_address: str | None) -> None:
    matches = [(item, screening.blocklist_match(item.phash)) for item in processed]
    blocked = [
        BlockedUpload(
            phash=item.phash,
            matched_hash=match.matched_hash,
            distance=match.distance,
            sha256=item.sha256,
            client_address=client_address,
        )
        for item, match in matches
        if match is not None
    ]
    if blocked:
        BlockedUpload.objects.bulk_create(blocked)
        logger.warning("upload refused: %d photo(s) matched the abuse hash list", len(blocked))
        raise UploadBlocked(UploadBlocked.detail)


def _check_file_count(files: list[UploadedFile]) -> None:
    limit = settings.UPLOAD_MAX_IMAGES
    if not 1 <= len(files) <= limit:
        raise ValidationError(
            {"images": gettext("Send between 1 and %(limit)d photos.") % {"limit": limit}}
        )


def _store_images(
    submission: Submission, processed: list[intake.ProcessedImage], written: list[str]
) -> list[ImageOutcome]:
    # Near duplicates within the hotel are linked (a re-shot photo of the same room);
    # one of another hotel's photo is held for a moderator (`_holds`).
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
        elsewhere = screening.duplicate_elsewhere(item.phash, submission.hotel_id)
        near = elsewhere.image_id if elsewhere else _nearest(item.phash, known)
        image = _image_create(submission, item, near, _holds(item, elsewhere), written)
        known.append((image.id, image.phash))
        outcomes.append(ImageOutcome(image=image, duplicate=False))
    return outcomes


def _holds(item: intake.ProcessedImage, elsewhere: screening.Duplicate | None) -> str:
    """Why the photo waits for a moderator ("" when it need not)."""
    reasons = [item.flagged_reason] if item.flagged_reason else []
    if item.explicit_labels:
        reasons.append("explicit content: " + ", ".join(item.explicit_labels))
    if elsewhere:
        reasons.append(
            f"same photo as #{elsewhere.image_id} filed under another hotel "
            f"({elsewhere.hotel_name}, {elsewhere.distance} bits apart)"
        )
    return "; ".join(reasons)[:200]


def _nearest(phash: str, known: list[tuple[int, str]]) -> int | None:
    best_id, best_distance = None, NEAR_DUPLICATE_MAX_DISTANCE + 1
    for image_id, other in known:
        distance = phash_distance(phash, other)
        if distance < best_distance:
            best_id, best_distance = image_id, distance
    return best_id


def _image_create(
    submission: Submission,
    item: intake.ProcessedImage,
    near_duplicate_of_id: int | None,
    flagged_reason: str,
    written: list[str],
) -> RoomImage:
    image = RoomImage(
        submission=submission,
        sha256=item.sha256,
        phash=item.phash,
        near_duplicate_of_id=near_duplicate_of_id,
        flagged_reason=flagged_reason,
        quarantined=bool(item.explicit_labels),
        captured_at=item.captured_at,
        camera_model=item.camera_model,
    )
    # A named ContentFile: Django reads the dimensions from it (a nameless one counts as
    # "no file" and would leave width and height empty). Held photos are written to
    # private storage (`RoomImage.publishable`, `room_image_path`).
    image.file.save("photo.jpg", ContentFile(item.content, name="photo.jpg"), save=False)
    written.append(image.file.name)
    image.thumbnail.save("thumb.jpg", ContentFile(item.thumbnail, name="thumb.jpg"), save=False)
    written.append(image.thumbnail.name)
    image.full_clean()
    image.save()
    PhashBand.objects.bulk_create(
        PhashBand(image=image, band=band, value=value)
        for band, value in PhashBand.bands_of(image.phash)
    )
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
    storage.delete_files([n for n in names if n not in committed], "after a failed upload")


def image_hide(image: RoomImage, *, reason: str = "", moderator=None) -> RoomImage:
    """Take a photo out of search and public view (moderation); it is never matched.

    Its files leave public media: they move to private storage, so the old URL is gone.
    The decision is recorded with `moderator` (None: not a person, e.g. a script) and
    the time.
    """
    with transaction.atomic():
        image = RoomImage.objects.select_for_update().get(pk=image.pk)
        image.status = RoomImage.Status.HIDDEN
        image.status_reason = reason or "hidden by a moderator"
        record_review(image, moderator)
        image.full_clean()
        relocate(image, ["status", "status_reason", "reviewed_by", "reviewed_at"])
    return image


class NotApprovable(Exception):
    """The photo cannot be published: quarantined (explicit) or hidden."""


def image_approve(image: RoomImage, *, moderator=None) -> RoomImage:
    """A moderator checked a held photo: it may now be matched and its files are public.

    Refuses a quarantined photo (explicit content is never published) and a hidden one.
    A photo of a hotel still proposed by a traveller stays held for the hotel's decision
    (rooms/proposals.py). The decision is recorded with `moderator` and the time.
    """
    with transaction.atomic():
        image = RoomImage.objects.select_for_update().get(pk=image.pk)
        if image.quarantined:
            raise NotApprovable("explicit content is never published")
        if image.status == RoomImage.Status.HIDDEN:
            raise NotApprovable("a hidden photo stays hidden")
        image.flagged_reason = _hotel_hold(image)
        record_review(image, moderator)
        image.full_clean()
        # status_changed_at (auto_now) tells the in-process index to look at it again.
        relocate(image, ["flagged_reason", "reviewed_by", "reviewed_at"])
    return image


def _hotel_hold(image: RoomImage) -> str:
    """The hold a proposed hotel keeps on its photos ("" once it is listed)."""
    proposed = image.submission.hotel.status == Hotel.Status.PROPOSED
    return PROPOSED_HOTEL_REASON if proposed else ""


def record_review(image: RoomImage, moderator) -> None:
    # The last decision only: the admin's history (LogEntry) keeps every one.
    image.reviewed_by = moderator
    image.reviewed_at = timezone.now()


def relocate(image: RoomImage, changed: list[str]) -> None:
    """Save `changed` with the files moved where the photo's new state puts them.

    Inside the caller's transaction: the copies are written first, the row then names
    them, and the old copies are deleted only after the commit. A rollback leaves the
    new copies without a row, for the orphan sweep.
    """
    public = image.publishable
    old = [name for name in (image.file.name, image.thumbnail.name) if name]
    image.file.name = storage.move(image.file.name, public=public)
    if image.thumbnail.name:
        image.thumbnail.name = storage.move(image.thumbnail.name, public=public)
    image.save(update_fields=[*changed, "file", "thumbnail", "status_changed_at"])
    moved = [name for name in old if name not in (image.file.name, image.thumbnail.name)]
    if moved:
        transaction.on_commit(lambda: storage.delete_files(moved, "(moved)"), robust=True)


def images_privatise() -> int:
    """Move the files of every photo that may not be published out of public media
    (photos held or hidden before files followed the moderation state); returns how many."""
    unfit = Q(status=RoomImage.Status.HIDDEN) | Q(quarantined=True) | ~Q(flagged_reason="")
    exposed = RoomImage.objects.filter(unfit).exclude(file__startswith=storage.PRIVATE_PREFIX)
    count = 0
    for image_id in list(exposed.values_list("id", flat=True)):
        with transaction.atomic():
            image = RoomImage.objects.select_for_update().get(pk=image_id)
            if not image.publishable and image.is_public:
                relocate(image, [])
                count += 1
    return count
