"""What a traveller may learn of their own photos: a status, nothing else.

One vocabulary for the thank-you page and the receipt API. It never says why a photo
waits (a person, a duplicate, explicit content): only that a moderator will look.
The texts are lazy: a page shows them in its visitor's language; the API sends codes.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from rooms.models import RoomImage

Status = RoomImage.Status


@dataclass(frozen=True)
class PublicStatus:
    code: str
    text: str  # lazy: translated where it is shown


RECEIVED = PublicStatus("received", _("Received, waiting to be processed"))
PROCESSING = PublicStatus("processing", _("Being processed"))
READY = PublicStatus("ready", _("Ready: investigators can now match it"))
FAILED = PublicStatus("failed", _("Could not be processed"))
IN_REVIEW = PublicStatus("in_review", _("Waiting for a moderator"))
REMOVED = PublicStatus("removed", _("Removed by a moderator"))

PUBLIC_CODES = [s.code for s in (RECEIVED, PROCESSING, READY, FAILED, IN_REVIEW, REMOVED)]


def public_status(image: RoomImage) -> PublicStatus:
    if image.status == Status.HIDDEN:
        return REMOVED
    if image.is_flagged or image.quarantined:
        return IN_REVIEW
    return {
        Status.PENDING: RECEIVED,
        Status.EMBEDDING: PROCESSING,
        Status.EMBEDDED: READY,
        Status.FAILED: FAILED,
    }.get(image.status, RECEIVED)
