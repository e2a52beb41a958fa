"""A traveller's upload stored exactly once, with what the browser adds to it.

`submit_once` wraps `services.submission_create` for the upload page and the API:

- Exactly once: the browser picks a random token per submission and sends it with
  every try. A retry after a dropped connection finds the submission the first try
  stored and answers with it (same receipt, same thank-you page), even when the two
  tries run at the same time (the token is unique in the database).
- The receipt of a tokened submission is derived from the token, so a retry can give
  it again although only its digest is stored; the database keeps a digest of the
  token as well, so neither the token nor the receipt can be read from it.
- Capture times: a photo shrunk in the browser has lost its EXIF; the browser sends
  the original's capture time beside it (`captured_at`, one per photo, "" when
  unknown), used when the stored photo has none of its own.
- "My hotel is not listed": the traveller's proposed hotel is created in the same
  transaction as the submission, and its photos are held (rooms/proposals.py).
"""

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rooms import proposals, storage
from rooms.models import Hotel, RoomImage, Submission, digest_of_receipt
from rooms.services import ImageOutcome, SubmissionConflict, UploadBlocked, submission_create

# Capture times outside these bounds are typing or clock errors, not photos of a room.
EARLIEST_CAPTURE = datetime(1990, 1, 1, tzinfo=UTC)
# Cameras record local time, stored as if it were UTC when no offset is known (as the
# intake does): up to 14 hours ahead of the real UTC time, plus some clock drift.
CAPTURE_CLOCK_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Submitted:
    submission: Submission
    receipt: str
    # Each photo's outcome, in upload order (services.ImageOutcome); empty for a replay.
    images: list[ImageOutcome] = field(default_factory=list)
    duplicates: int = 0
    replayed: bool = False  # True: an earlier try had stored it


def submit_once(
    *,
    hotel: Hotel | None,
    room_number: str,
    files: list[UploadedFile],
    captured_at: list[datetime | None] | None = None,
    client_token: uuid.UUID | None = None,
    proposal: dict | None = None,
    client_address: str | None = None,
) -> Submitted:
    """Store the upload, or find the one an earlier try with `client_token` stored.

    `hotel` or `proposal` (the keyword arguments of `proposals.propose_hotel`). Raises
    what `submission_create` raises (nothing stored), and ValidationError for a bad
    proposal.
    """
    if client_token is not None and (earlier := _earlier(client_token, len(files))):
        return earlier
    written: list[str] = []
    try:
        outcome = _store(
            hotel=hotel,
            proposal=proposal,
            room_number=room_number,
            files=files,
            captured_at=captured_at or [],
            client_token=client_token,
            client_address=client_address,
            written=written,
        )
    except (IntegrityError, SubmissionConflict):
        # A concurrent try with the same token (or the same photos) committed first.
        storage.delete_files(written, "after a failed upload")
        if client_token is not None and (earlier := _earlier(client_token, len(files))):
            return earlier
        raise SubmissionConflict("the same photo is being uploaded concurrently") from None
    except BaseException:
        storage.delete_files(written, "after a failed upload")
        raise
    if isinstance(outcome, UploadBlocked):
        raise outcome
    return outcome


def _store(
    *, hotel, proposal, room_number, files, captured_at, client_token, client_address, written
) -> Submitted | UploadBlocked:
    """One transaction: the proposed hotel, the submission, its token, capture times and
    holds. Files written are listed in `written` for the caller to delete on failure."""
    with transaction.atomic():
        hotel = hotel or proposals.propose_hotel(**proposal)
        try:
            result = submission_create(
                hotel=hotel, room_number=room_number, files=files, client_address=client_address
            )
        except UploadBlocked as blocked:
            # Returned, not raised: the record of the refused photos (written by the
            # service before it refuses) must commit for the operator to report; the
            # traveller's proposed hotel must not.
            if proposal is not None:
                hotel.delete()
            return blocked
        stored = [o.image for o in result.images if not o.duplicate]
        written.extend(name for image in stored for name in _names(image))
        receipt = _claim(result.submission, client_token) or result.receipt
        _fill_capture_times(result.images, captured_at)
        if hotel.status == Hotel.Status.PROPOSED:
            proposals.hold_photos(stored, written)
    duplicates = sum(1 for outcome in result.images if outcome.duplicate)
    return Submitted(result.submission, receipt, result.images, duplicates)


def token_key(client_token: uuid.UUID) -> uuid.UUID:
    """What the database keeps of a client token: a digest, in the UUID column."""
    digest = hashlib.sha256(b"traffickcam client token:" + client_token.bytes).digest()
    return uuid.UUID(bytes=digest[:16])


def receipt_for_token(client_token: uuid.UUID) -> str:
    """The receipt of a tokened submission (as long as `models.new_receipt`'s)."""
    digest = hashlib.sha256(b"traffickcam receipt:" + client_token.bytes).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def _earlier(client_token: uuid.UUID, files_sent: int) -> Submitted | None:
    submission = (
        Submission.objects.select_related("hotel")
        .filter(client_token=token_key(client_token))
        .first()
    )
    if submission is None:
        return None
    duplicates = max(0, files_sent - submission.images.count())
    receipt = receipt_for_token(client_token)
    return Submitted(submission, receipt, duplicates=duplicates, replayed=True)


def _claim(submission: Submission, client_token: uuid.UUID | None) -> str | None:
    """Tie the submission to the token; raises IntegrityError if another has it."""
    if client_token is None:
        return None
    receipt = receipt_for_token(client_token)
    submission.client_token = token_key(client_token)
    submission.receipt_digest = digest_of_receipt(receipt)
    submission.save(update_fields=["client_token", "receipt_digest"])
    return receipt


def _fill_capture_times(outcomes, captured_at: list[datetime | None]) -> None:
    # Only this upload's own new photos, and only where the photo carried no time.
    for outcome, moment in zip(outcomes, captured_at, strict=False):
        image = outcome.image
        if outcome.duplicate or moment is None or image.captured_at is not None:
            continue
        image.captured_at = moment
        image.save(update_fields=["captured_at"])


def parse_capture_times(values: list[str], photo_count: int) -> list[datetime | None]:
    """The `captured_at` form values, one per photo ("" when unknown); none at all is
    fine. Raises ValidationError with a reason the traveller can act on."""
    if not values:
        return []
    if len(values) != photo_count:
        raise ValidationError(
            _("Send one capture time per photo (%(sent)d for %(photos)d photos).")
            % {"sent": len(values), "photos": photo_count}
        )
    return [_capture_time(value, number) for number, value in enumerate(values, 1)]


def _capture_time(value: str, number: int) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            _("Photo %(number)d: the capture time is not a date and time (YYYY-MM-DDTHH:MM:SS).")
            % {"number": number}
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # local wall-clock time, as the intake keeps it
    if not EARLIEST_CAPTURE <= moment <= timezone.now() + CAPTURE_CLOCK_SLACK:
        raise ValidationError(
            _("Photo %(number)d: the capture time %(value)s is not a plausible date.")
            % {"number": number, "value": value[:40]}
        )
    return moment


def _names(image: RoomImage) -> list[str]:
    return [name for name in (image.file.name, image.thumbnail.name) if name]
