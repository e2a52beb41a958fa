"""Hotels proposed by travellers ("my hotel is not listed") and their moderation.

A proposed hotel is a `Hotel` with status PROPOSED. Its photos are held like any other
photo waiting for a moderator (flagged, files in private storage, never matched) with
the reason PROPOSED_HOTEL_REASON, until a moderator approves the hotel or merges it
into a listed one; they are then released, unless something else still holds them.

The release is not `services.image_approve` (that clears every hold; a release only
takes the hotel's off) but uses its steps: `services.record_review` and
`services.relocate` (files moved where `RoomImage.publishable` puts them, in the
transaction).
"""

import uuid

from django.db import transaction

from rooms.models import PROPOSED_HOTEL_REASON, Hotel, RoomImage
from rooms.services import record_review, relocate

REASON_SEPARATOR = "; "  # how services joins several hold reasons
FLAGGED_REASON_MAX = 200


class NotMergeable(Exception):
    """The hotels cannot be merged (not a proposal into a listed hotel)."""


def propose_hotel(
    *,
    name: str,
    city: str,
    country_code: str,
    latitude: float,
    longitude: float,
    address: str = "",
) -> Hotel:
    """A new hotel as a traveller describes it; raises ValidationError on a bad field."""
    hotel = Hotel(
        name=name.strip(),
        address=address.strip(),
        city=city.strip(),
        country_code=country_code.strip().upper(),
        latitude=latitude,
        longitude=longitude,
        status=Hotel.Status.PROPOSED,
        # Not from any catalogue: a key no import will ever use.
        external_ref=f"proposed:{uuid.uuid4()}",
    )
    hotel.full_clean()
    hotel.save()
    return hotel


def hold_photos(images: list[RoomImage], written: list[str]) -> None:
    """Hold photos uploaded into a proposed hotel (inside the upload's transaction).

    The hotel's reason comes first, so the 200-character limit never cuts it off. New
    private copies are added to `written` (the caller deletes them if the transaction
    fails); the public copies are deleted once it commits.
    """
    for image in images:
        image.flagged_reason = _with_reason(image.flagged_reason)
        relocate(image, ["flagged_reason"])
        written.extend([image.file.name, image.thumbnail.name])


def approve_hotel(hotel: Hotel, moderator) -> Hotel:
    """A moderator checked a proposed hotel: it is listed, and its photos released."""
    with transaction.atomic():
        hotel = Hotel.objects.select_for_update().get(pk=hotel.pk)
        if hotel.status != Hotel.Status.PROPOSED:
            return hotel  # approved already: nothing is held for it any more
        hotel.status = Hotel.Status.LISTED
        hotel.full_clean()
        hotel.save(update_fields=["status"])
        _release_photos(RoomImage.objects.filter(submission__hotel=hotel), moderator)
    return hotel


def merge_hotel(proposed: Hotel, into: Hotel, moderator) -> Hotel:
    """A proposed hotel is one already listed: its submissions move to `into`, its photos
    are released, and the proposal is deleted. Returns `into`."""
    with transaction.atomic():
        proposed = Hotel.objects.select_for_update().get(pk=proposed.pk)
        into = Hotel.objects.select_for_update().get(pk=into.pk)
        if proposed.status != Hotel.Status.PROPOSED:
            raise NotMergeable("only a proposed hotel can be merged into another")
        if into.status != Hotel.Status.LISTED or into.pk == proposed.pk:
            raise NotMergeable("a proposed hotel can only be merged into a listed hotel")
        submissions = list(proposed.submissions.values_list("pk", flat=True))
        proposed.submissions.update(hotel=into)
        _release_photos(RoomImage.objects.filter(submission__in=submissions), moderator)
        proposed.delete()
    return into


def _release_photos(images, moderator) -> None:
    """Take the hotel's reason off each photo; publish those nothing else holds."""
    held = images.select_for_update().filter(flagged_reason__contains=PROPOSED_HOTEL_REASON)
    for image in held.order_by("pk"):
        image.flagged_reason = _without_reason(image.flagged_reason)
        if not image.publishable:
            # Still held for a person, a duplicate or explicit content, or hidden: that
            # is a moderator's own decision on the photo.
            image.save(update_fields=["flagged_reason"])
            continue
        record_review(image, moderator)
        image.full_clean()
        # status_changed_at (auto_now) tells the in-process index to look at it again.
        relocate(image, ["flagged_reason", "reviewed_by", "reviewed_at"])


def _with_reason(existing: str) -> str:
    reasons = [PROPOSED_HOTEL_REASON, *([existing] if existing else [])]
    return REASON_SEPARATOR.join(reasons)[:FLAGGED_REASON_MAX]


def _without_reason(flagged_reason: str) -> str:
    reasons = flagged_reason.split(REASON_SEPARATOR)
    return REASON_SEPARATOR.join(r for r in reasons if r != PROPOSED_HOTEL_REASON)
