"""Reads: which searches a user may see, which are past retention."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from investigations.models import Search, Team
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


def searches_expired(now=None) -> QuerySet[Search]:
    now = now or timezone.now()
    return Search.objects.filter(
        created_at__lt=now - timedelta(days=settings.SEARCH_RETENTION_DAYS)
    )
