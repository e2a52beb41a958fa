"""Reads: which searches a user may see, which are past retention."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from investigations.models import Decision, Search, Team
from investigations.permissions import is_investigator


def team_of(user) -> Team | None:
    membership = getattr(user, "team_membership", None)
    return membership.team if membership else None


def searches_visible_to(user) -> QuerySet[Search]:
    """The user's own searches and their team's; nothing for non-investigators."""
    if not is_investigator(user):
        return Search.objects.none()
    team = team_of(user)
    visible = Q(owner=user) | Q(team=team) if team else Q(owner=user)
    return Search.objects.filter(visible).select_related("owner", "team")


def searches_past_retention(now=None) -> QuerySet[Search]:
    now = now or timezone.now()
    return Search.objects.filter(
        created_at__lt=now - timedelta(days=settings.SEARCH_RETENTION_DAYS)
    )


def searches_expired(now=None) -> QuerySet[Search]:
    """Past retention and not kept by a legal hold on their case."""
    return searches_past_retention(now).exclude(case__legal_hold=True)


def searches_held(now=None) -> QuerySet[Search]:
    """Past retention, kept only because their case is on legal hold."""
    return searches_past_retention(now).filter(case__legal_hold=True)


@dataclass(frozen=True)
class LabelledPair:
    """A query photo and a gallery photo an investigator judged: same hotel or not."""

    search_id: object
    revision: int  # the judged revision's number
    query_file: str  # private storage name of the query photo
    mask_file: str  # the erase mask of the judged revision ("" = none)
    region: list | None
    image_id: int
    same_hotel: bool


def labelled_pairs() -> Iterator[LabelledPair]:
    """Pairs from the latest decisions of every kept search, for the matcher's training.

    A verdict on a photo labels that photo; a verdict on a hotel labels every photo of it
    the judged revision showed, unless the photo has its own verdict. Pairs last as long
    as their search: the query photo is deleted with it.
    """
    searches = Search.objects.filter(decisions__isnull=False).distinct()
    for search in searches.prefetch_related("revisions", "decisions"):
        latest = {}
        for decision in sorted(search.decisions.all(), key=lambda d: (d.created_at, d.pk)):
            latest[(decision.hotel_id, decision.image_id)] = decision
        revisions = {revision.number: revision for revision in search.revisions.all()}
        labels = {}
        for (hotel_id, image_id), decision in latest.items():
            revision = revisions[decision.revision]
            same = decision.verdict == Decision.Verdict.CONFIRMED
            for photo in [image_id] if image_id else _shown_photos(revision, hotel_id):
                if image_id or (hotel_id, photo) not in latest:
                    labels[photo] = (same, revision)
        for photo, (same, revision) in labels.items():
            yield LabelledPair(
                search.pk,
                revision.number,
                search.query_image.name,
                revision.query_mask.name,
                revision.region,
                photo,
                same,
            )


def _shown_photos(revision, hotel_id) -> list[int]:
    return [
        match["image_id"]
        for hotel in revision.hotels
        if hotel["hotel"]["id"] == hotel_id
        for match in hotel["matches"]
    ]
