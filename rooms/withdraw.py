"""A traveller takes back their submission, with the receipt as the only key.

Everything of it goes: the submission, its photos (their rows cascade to vectors, local
features and hash bands), the photos' files once the deletion commits, and a hotel the
traveller proposed that nothing else uses. Photos this upload only repeated (already
stored by someone else) are not theirs and stay.
"""

import logging
from contextlib import nullcontext

from django.db import transaction

from rooms import storage
from rooms.models import Hotel, Submission, digest_of_receipt

logger = logging.getLogger(__name__)


def submission_withdraw(receipt: str) -> bool:
    """Delete the submission holding this receipt; False when there is none."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update()
            .select_related("hotel")
            .filter(receipt_digest=digest_of_receipt(receipt))
            .first()
        )
        if submission is None:
            return False
        rows = list(submission.images.values_list("id", "file", "thumbnail"))
        hotel = submission.hotel
        submission.delete()
        if hotel.status == Hotel.Status.PROPOSED and not hotel.submissions.exists():
            hotel.delete()
        image_ids = [image_id for image_id, *_ in rows]
        names = [name for _, *files in rows for name in files if name]
        transaction.on_commit(lambda: _forget(image_ids, names), robust=True)
    return True


def _forget(image_ids: list[int], names: list[str]) -> None:
    for name in names:
        try:
            storage.ROOM_PHOTO_STORAGE.delete(name)
        except Exception:  # keep deleting the others; the orphan sweep finds this one
            logger.exception("could not delete %s of a withdrawn submission", name)
    _drop_from_index(image_ids)


def _drop_from_index(image_ids: list[int]) -> None:
    """The in-process index forgets the vectors now rather than at its next search.

    (Searches check every result against the database, so a deleted photo is never
    returned either way; pgvector reads the database itself and keeps nothing.)
    """
    from matcher.indexes import get_index  # the matcher app owns the index

    index = get_index()
    drop_images = getattr(index, "drop_images", None)
    if drop_images is None or not image_ids:
        return
    # The in-process backends change their arrays under their own lock while searching.
    with getattr(index, "_lock", None) or nullcontext():
        drop_images(image_ids)
