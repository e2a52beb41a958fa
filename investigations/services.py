"""Writes: investigators and teams, searches (with their private photo), audit, purge.

A search is checked and ranked completely before anything is written, so a bad
query leaves no row and no file behind.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from investigations.models import PRIVATE_STORAGE, AuditEntry, Search, Team, TeamMembership
from investigations.permissions import INVESTIGATORS_GROUP, is_investigator
from investigations.query import NOTHING_LEFT, prepare_query
from investigations.selectors import searches_expired, team_of
from matcher.services import EmptyQueryError, HotelFilters, VisualQuery, rank_hotels
from rooms.geo import parse_point, parse_radius
from rooms.models import Chain

logger = logging.getLogger(__name__)

K_MAX = 100


# --- investigators ---


def investigators_group() -> Group:
    """The group whose members may search (created by a migration; re-created if lost)."""
    group, _ = Group.objects.get_or_create(name=INVESTIGATORS_GROUP)
    permission = Permission.objects.get(
        content_type__app_label="investigations", codename="search_hotels"
    )
    group.permissions.add(permission)
    return group


@transaction.atomic
def investigator_create(*, username, team_name, email="", password=None):
    """A new investigator in `team_name` (created if needed); returns (user, api_token_key).

    Without a password the account can only use its API token until one is set.
    """
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"user {username!r} already exists"})
    user = User(username=username, email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    user.groups.add(investigators_group())
    team, _ = Team.objects.get_or_create(name=team_name)
    membership = TeamMembership(user=user, team=team)
    membership.full_clean()
    membership.save()
    token = Token.objects.create(user=user)
    return user, token.key


def generate_password() -> str:
    return secrets.token_urlsafe(18)


# --- filters ---


def _chain(value) -> Chain:
    """A chain by id (digits) or by exact name, case-insensitive."""
    text = str(value).strip()
    chains = Chain.objects.filter(pk=int(text)) if text.isdigit() else Chain.objects.none()
    chain = chains.first() or Chain.objects.filter(name__iexact=text).first()
    if chain is None:
        raise ValidationError({"chain": f"no chain {text!r}"})
    return chain


def filters_parse(raw: dict | None) -> tuple[HotelFilters, dict]:
    """Hotel filters from form/API values, and the normalised copy kept with the search.

    Keys: country (ISO alpha-2), city, chain (id or name), near ('lat,lon') and
    radius_km (both or neither). Empty values are ignored.
    """
    raw = {key: value for key, value in (raw or {}).items() if value not in (None, "")}
    filters, kept = HotelFilters(), {}
    if "country" in raw:
        filters.country = kept["country"] = str(raw["country"]).strip().upper()
        if len(filters.country) != 2 or not filters.country.isalpha():
            raise ValidationError({"country": "use a two-letter ISO 3166 country code"})
    if "city" in raw:
        filters.city = kept["city"] = str(raw["city"]).strip()
    if "chain" in raw:
        filters.chain = _chain(raw["chain"])
        kept["chain"] = {"id": filters.chain.pk, "name": filters.chain.name}
    if ("near" in raw) != ("radius_km" in raw):
        raise ValidationError({"radius_km": "give near and radius_km together"})
    if "near" in raw:
        filters.near = _parsed("near", parse_point, raw["near"])
        filters.radius_km = _parsed("radius_km", parse_radius, raw["radius_km"])
        kept["near"], kept["radius_km"] = list(filters.near), filters.radius_km
    return filters, kept


def _parsed(field, parse, value):
    try:
        return parse(value)
    except ValueError as exc:
        raise ValidationError({field: str(exc)}) from None


# --- searches ---


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= K_MAX:
        raise ValidationError({"k": f"must be a whole number from 1 to {K_MAX}"})
    return k


def search_create(
    *, user, image_file, mask_file=None, region=None, filters=None, k=10, client_address=None
) -> Search:
    """Validate, describe and rank the query, then store it privately and audit it.

    Raises PermissionDenied for non-investigators and ValidationError (by field) for
    a bad photo, mask, region, filter or k; in both cases nothing is written.
    """
    if not is_investigator(user):
        raise PermissionDenied("Only investigators can use hotel search.")
    k = _check_k(k)
    hotel_filters, kept_filters = filters_parse(filters)
    prepared = prepare_query(image_file, mask_file, region)
    try:
        ranking = rank_hotels(
            VisualQuery(prepared.image, prepared.mask), filters=hotel_filters, k=k
        )
    except EmptyQueryError:
        raise ValidationError({"mask": NOTHING_LEFT}) from None
    search = Search(
        owner=user,
        team=team_of(user),
        query_content_type=prepared.content_type,
        query_sha256=prepared.sha256,
        mask_sha256=prepared.mask_sha256,
        region=prepared.region,
        filters=kept_filters,
        k=k,
        query_exif=prepared.exif,
        model_version=ranking.model_version,
        hotels=ranking.hotels,
        chains=ranking.chains,
    )
    try:
        with transaction.atomic():
            search.query_image.save(f"query{prepared.extension}", ContentFile(prepared.data), False)
            if prepared.mask_data:
                search.query_mask.save("mask.png", ContentFile(prepared.mask_data), False)
            search.full_clean()
            search.save()
            audit_record(user=user, search=search, client_address=client_address)
    except BaseException:
        for name in search.private_files:  # the row is gone with the rollback: so are they
            PRIVATE_STORAGE.delete(name)
        raise
    return search


def audit_record(*, user, search, action=AuditEntry.Action.SEARCH, client_address=None):
    """One audit row: searches, and every opening of a query photo or a case export."""
    entry = AuditEntry(
        user=user,
        username=user.get_username(),
        action=action,
        search_id=search.pk,
        filters=search.filters,
        query_sha256=search.query_sha256,
        result_count=len(search.hotels),
        client_address=client_address or None,
    )
    entry.full_clean()
    entry.save()
    return entry


def search_delete(search: Search) -> None:
    """Delete a search and its files (files first: a row without a file is harmless)."""
    for name in search.private_files:
        PRIVATE_STORAGE.delete(name)
    search.delete()


def searches_purge_expired(now=None) -> int:
    """Delete searches older than SEARCH_RETENTION_DAYS with their photos; audit rows stay.

    Also removes query files that no search refers to any more (left by a crash
    between writing the file and committing its row) once they are as old.
    """
    now = now or timezone.now()
    count = 0
    for search in searches_expired(now).iterator():
        search_delete(search)
        count += 1
    _purge_orphan_files(now)
    return count


def _purge_orphan_files(now) -> None:
    cutoff = now - timedelta(days=settings.SEARCH_RETENTION_DAYS)
    try:
        _, names = PRIVATE_STORAGE.listdir("queries")
    except FileNotFoundError:
        return
    known = {
        name
        for pair in Search.objects.values_list("query_image", "query_mask")
        for name in pair
        if name
    }
    for name in names:
        path = f"queries/{name}"
        if path not in known and PRIVATE_STORAGE.get_modified_time(path) < cutoff:
            PRIVATE_STORAGE.delete(path)
            logger.info("purged orphan query file %s", path)
