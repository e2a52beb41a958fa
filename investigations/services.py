"""Writes: investigators and teams, searches (with their private photo), audit, purge.

A search is checked and ranked completely before anything is written, so a bad
query leaves no row and no file behind.
"""

import logging
import secrets
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.tokens import token_create
from investigations.audit import audit_record
from investigations.cases import case_check_new, case_create
from investigations.models import (
    PRIVATE_STORAGE,
    RUN_FIELDS,
    AuditEntry,
    Decision,
    Search,
    SearchRevision,
    Team,
    TeamMembership,
)
from investigations.permissions import INVESTIGATORS_GROUP, is_investigator
from investigations.query import NOTHING_LEFT, prepare_query
from investigations.selectors import searches_expired, team_of
from matcher.services import (
    EmptyQueryError,
    HotelFilters,
    VisualQuery,
    rank_hotels,
    rank_hotels_set,
)
from rooms.geo import parse_point, parse_radius
from rooms.models import Chain

logger = logging.getLogger(__name__)

K_MAX = 100
MAX_PHOTOS = 8  # photos of one multi-photo search
MASK_NOT_KEPT = "this search's mask was not kept: upload it again, or search without a mask"


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
    _, key = token_create(user=user, name="created with the account")
    return user, key


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
    *,
    user,
    image_file,
    mask_file=None,
    region=None,
    filters=None,
    k=10,
    client_address=None,
    case=None,
    new_case=None,
) -> Search:
    """Validate, describe and rank the query, then store it privately and audit it.

    `case`: one of the team's cases to file it in; or `new_case` ({"reference",
    "title", "notes"}): a case opened with it. Raises PermissionDenied for
    non-investigators and ValidationError (by field) for a bad photo, mask, region,
    filter, k or case; in both cases nothing is written (no case either).
    """
    (search,) = searches_create(
        user=user,
        photos=[(image_file, mask_file)],
        region=region,
        filters=filters,
        k=k,
        client_address=client_address,
        case=case,
        new_case=new_case,
    )
    return search


def searches_create(
    *, user, photos, region=None, filters=None, k=10, client_address=None, case=None, new_case=None
) -> list[Search]:
    """One search per (photo, mask) of `photos`, stored all together or not at all.

    Several photos are one set of the same room: each is ranked to `fusion_k(k)`
    hotels (so the fusion sees past each photo's top k), they share a `photo_set` id,
    are marked "same room", and `cases.combined_ranking` fuses them. A region only applies to one
    photo. Errors about one photo of a set name it ("photo 2: ...").
    """
    _check_investigator(user)
    _check_case(user, case)
    if new_case is not None:
        if case is not None:
            raise ValidationError({"case": "choose a case or open a new one, not both"})
        case_check_new(user=user, **new_case)  # before the ranking: a clash costs nothing
    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise ValidationError({"image": f"send 1 to {MAX_PHOTOS} photos"})
    several = len(photos) > 1
    if several and region:
        raise ValidationError({"region": "a region applies to a single photo"})
    if several:
        runs = _ranked_set(photos, filters, fusion_k(_check_k(k)))
    else:
        runs = [_ranked_run(*photos[0], region, filters, k)]
    photo_set = uuid.uuid4() if several else None
    searches = [_new_search(user, run, case, photo_set) for run in runs]
    try:
        with transaction.atomic():
            if new_case is not None:
                case = case_create(user=user, client_address=client_address, **new_case)
                for search in searches:
                    search.case = case
            for search, run in zip(searches, runs, strict=True):
                _store(search, run, user)
            for search in searches:  # last: the audit chain's head lock, held to the commit
                audit_record(user=user, search=search, client_address=client_address)
    except BaseException:
        for search in searches:  # the rows are gone with the rollback: so are the files
            for name in search.private_files:
                PRIVATE_STORAGE.delete(name)
        raise
    return searches


def fusion_k(k: int) -> int:
    """Hotels ranked per photo of a set: three times the asked k, within K_MAX."""
    return min(K_MAX, max(3 * k, 20))


@contextmanager
def _naming_photo(number):
    """Prefix a set's photo errors with which photo they concern."""
    try:
        yield
    except ValidationError as exc:
        if number is None or not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {
                field: [f"photo {number}: {message}" for message in messages]
                for field, messages in exc.message_dict.items()
            }
        ) from None


def _check_case(user, case) -> None:
    if case is not None and (
        case.team_id is None or case.team_id != getattr(team_of(user), "pk", None)
    ):
        raise ValidationError({"case": "no such case in your team"})


def _new_search(user, run, case, photo_set) -> Search:
    prepared = run.prepared
    search = Search(
        owner=user,
        team=team_of(user),
        query_content_type=prepared.content_type,
        query_sha256=prepared.sha256,
        query_exif=prepared.exif,
        case=case,
        photo_set=photo_set,
        same_room=photo_set is not None,
    )
    _copy_run(search, run)
    return search


def _store(search, run, user) -> None:
    prepared = run.prepared
    search.query_image.save(f"query{prepared.extension}", ContentFile(prepared.data), False)
    if prepared.mask_data:
        search.query_mask.save("mask.png", ContentFile(prepared.mask_data), False)
    search.full_clean()
    search.save()
    _revision_from(search, number=1, user=user)


def _check_investigator(user) -> None:
    if not is_investigator(user):
        raise PermissionDenied("Only investigators can use hotel search.")


@dataclass
class _Run:
    """A query checked and ranked, not yet stored."""

    prepared: object  # investigations.query.PreparedQuery
    filters: dict  # normalised, as kept with the search
    k: int
    ranking: object  # matcher.services.Ranking


def _ranked_run(image_file, mask_file, region, filters, k) -> _Run:
    k = _check_k(k)
    hotel_filters, kept_filters = filters_parse(filters)
    prepared = prepare_query(image_file, mask_file, region)
    try:
        ranking = rank_hotels(
            VisualQuery(prepared.image, prepared.mask), filters=hotel_filters, k=k
        )
    except EmptyQueryError:
        raise ValidationError({"mask": NOTHING_LEFT}) from None
    return _Run(prepared, kept_filters, k, ranking)


def _ranked_set(photos, filters, k) -> list[_Run]:
    """The runs of a set of one room: each photo checked, then all ranked in one go."""
    hotel_filters, kept_filters = filters_parse(filters)
    prepared = []
    for number, (image_file, mask_file) in enumerate(photos, 1):
        with _naming_photo(number):
            prepared.append(prepare_query(image_file, mask_file, None))
    queries = [VisualQuery(each.image, each.mask) for each in prepared]
    try:
        rankings = rank_hotels_set(queries, filters=hotel_filters, k=k)
    except EmptyQueryError as exc:
        with _naming_photo(exc.photo):
            raise ValidationError({"mask": NOTHING_LEFT}) from None
    return [
        _Run(each, kept_filters, k, ranking)
        for each, ranking in zip(prepared, rankings, strict=True)
    ]


def _copy_run(target, run: _Run) -> None:
    """The fields a search and its revisions share, from a ranked run."""
    target.filters = run.filters
    target.k = run.k
    target.region = run.prepared.region
    target.mask_sha256 = run.prepared.mask_sha256
    target.model_version = run.ranking.model_version
    target.verified_lift = run.ranking.verified_lift
    target.hotels = run.ranking.hotels
    target.chains = run.ranking.chains


def _revision_from(search: Search, *, number: int, user) -> SearchRevision:
    """A revision equal to the search's current fields (the mask file is shared)."""
    revision = SearchRevision(search=search, number=number, created_by=user)
    for field in RUN_FIELDS:
        setattr(revision, field, getattr(search, field))
    revision.query_mask.name = search.query_mask.name
    revision.full_clean(exclude=["search"])
    revision.save()
    return revision


def search_revise(
    *,
    search,
    user,
    filters=None,
    k=10,
    region=None,
    mask_file=None,
    clear_mask=False,
    client_address=None,
) -> SearchRevision:
    """Re-run a stored search's photo with other filters, k, region or a corrected mask.

    `mask_file` None keeps the current mask, unless `clear_mask` (nothing erased). The
    new run becomes the next revision and the search's current state; earlier revisions
    stay as they were. Raises like `search_create`, and then writes nothing.
    """
    _check_investigator(user)
    if clear_mask and mask_file is not None:
        raise ValidationError({"mask": "send a new mask or clear it, not both"})
    if mask_file is None and not clear_mask and search.mask_sha256 and not search.query_mask.name:
        # Searches from before masks were stored: re-running would show the victim.
        raise ValidationError({"mask": MASK_NOT_KEPT})
    photo = _stored_upload(search.query_image, "query")
    if mask_file is None and search.query_mask.name and not clear_mask:
        mask_file = _stored_upload(search.query_mask, "mask.png")
    run = _ranked_run(photo, mask_file, region, filters, k)
    new_mask = run.prepared.mask_sha256 not in ("", search.mask_sha256)
    written = []
    try:
        with transaction.atomic():
            locked = Search.objects.select_for_update().get(pk=search.pk)
            _copy_run(locked, run)
            if not run.prepared.mask_data:
                locked.query_mask.name = ""
            elif new_mask:
                locked.query_mask.save("mask.png", ContentFile(run.prepared.mask_data), False)
                written.append(locked.query_mask.name)
            locked.save()
            number = (locked.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
            revision = _revision_from(locked, number=number, user=user)
            audit_record(
                user=user,
                search=locked,
                action=AuditEntry.Action.REVISION,
                client_address=client_address,
            )
    except BaseException:
        for name in written:
            PRIVATE_STORAGE.delete(name)
        raise
    search.refresh_from_db()
    return revision


def _stored_upload(field_file, name) -> ContentFile:
    """A stored private file as an upload, to validate it the way a new one is."""
    try:
        with field_file.open("rb") as fh:
            return ContentFile(fh.read(), name=name)
    except FileNotFoundError:  # purged while the page was open
        raise ValidationError({"image": "the query photo is no longer stored"}) from None


def decision_record(
    *, search, user, hotel_id, image_id=None, verdict, note="", revision=None, client_address=None
) -> Decision:
    """An investigator's verdict on a hotel (or one matching photo) of the search.

    The hotel must be among the results of `revision` (None: of the latest revision
    that showed it) and the photo among that hotel's shown matches, so a decision is
    always about what was shown.
    """
    _check_investigator(user)
    if verdict not in Decision.Verdict.values:
        raise ValidationError({"verdict": "use confirmed or rejected"})
    revision, hotel = _shown_hotel(search, hotel_id, image_id, revision)
    decision = Decision(
        search=search,
        revision=revision,
        hotel_id=hotel["hotel"]["id"],
        hotel_name=hotel["hotel"]["name"],
        image_id=image_id,
        verdict=verdict,
        note=(note or "").strip(),
        created_by=user,
    )
    decision.full_clean()
    with transaction.atomic():
        decision.save()
        audit_record(
            user=user,
            search=search,
            action=AuditEntry.Action.DECISION,
            client_address=client_address,
        )
    return decision


def _shown_hotel(search, hotel_id, image_id, number=None) -> tuple[int, dict]:
    """(revision number, hotel result) of revision `number`, or of the latest revision
    that showed the hotel (and the photo, when one is named)."""
    revisions = search.revisions.order_by("-number")
    if number is not None:
        revisions = revisions.filter(number=number)
        if not revisions.exists():
            raise ValidationError({"revision": f"this search has no revision {number}"})
    hotel_shown = False
    for revision in revisions:
        for hotel in revision.hotels:
            if hotel["hotel"]["id"] != hotel_id:
                continue
            hotel_shown = True
            if image_id is None or any(m["image_id"] == image_id for m in hotel["matches"]):
                return revision.number, hotel
    if hotel_shown:
        raise ValidationError({"image": f"photo {image_id} is not a match of this hotel"})
    raise ValidationError({"hotel": f"hotel {hotel_id} is not among this search's results"})


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
    known.update(SearchRevision.objects.values_list("query_mask", flat=True))
    for name in names:
        path = f"queries/{name}"
        if path not in known and PRIVATE_STORAGE.get_modified_time(path) < cutoff:
            PRIVATE_STORAGE.delete(path)
            logger.info("purged orphan query file %s", path)
