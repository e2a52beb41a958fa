"""A traveller takes back their submission, with the receipt as the only key.

Everything of it goes: the submission, its photos (their rows cascade to vectors, local
features and hash bands), the photos' files once the deletion commits, and a hotel the
traveller proposed that nothing else uses. Photos this upload only repeated (already
stored by someone else) are not theirs and stay.

The vector indexes need no call (and rooms may not import them): pgvector reads the
database, and the in-process indexes check every result against it
(`matcher.indexes.not_searchable`), dropping deleted photos the first time they come up.
"""

from django.db import transaction

from rooms import storage
from rooms.models import Hotel, Submission, digest_of_receipt


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
        files = list(submission.images.values_list("file", "thumbnail"))
        hotel = submission.hotel
        submission.delete()
        if hotel.status == Hotel.Status.PROPOSED and not hotel.submissions.exists():
            hotel.delete()
        names = [name for pair in files for name in pair if name]
        transaction.on_commit(
            lambda: storage.delete_files(names, "of a withdrawn submission"), robust=True
        )
    return True
