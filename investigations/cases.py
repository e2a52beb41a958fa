"""Cases: a team's workspace of searches. Reads and writes, each write audited.

A case belongs to the team of the investigator who opens it; only that team sees it
(another team's case is a 404, like a search). Putting a case on legal hold keeps its
searches past the retention period until a team member releases it.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from investigations.audit import audit_record
from investigations.models import AuditEntry, Case, Search
from investigations.permissions import is_investigator
from investigations.presenting import hotel_decisions
from investigations.selectors import searches_visible_to, team_of
from retrieval.ranking import fuse_rankings

CASE_FIELDS = ("title", "notes")


def cases_visible_to(user) -> QuerySet[Case]:
    """The cases of the user's team; none for non-investigators or the teamless."""
    team = team_of(user) if is_investigator(user) else None
    if team is None:
        return Case.objects.none()
    return Case.objects.filter(team=team).annotate(search_count=Count("searches"))


def _check(user):
    if not is_investigator(user):
        raise PermissionDenied("Only investigators can work on cases.")
    team = team_of(user)
    if team is None:
        raise PermissionDenied("Cases belong to a team; ask an administrator to add you to one.")
    return team


def case_check_new(*, user, reference, title, notes="") -> Case:
    """The unsaved case `case_create` would open; ValidationError by field if it cannot."""
    team = _check(user)
    case = Case(
        team=team,
        reference=(reference or "").strip(),
        title=(title or "").strip(),
        notes=notes or "",
        created_by=user,
    )
    case.full_clean(exclude=["team"], validate_constraints=False)
    if Case.objects.filter(team=team, reference=case.reference).exists():
        raise ValidationError({"reference": f"your team already has a case {case.reference!r}"})
    return case


def case_create(*, user, reference, title, notes="", client_address=None) -> Case:
    """A new case of the user's team; the reference is unique within the team."""
    case = case_check_new(user=user, reference=reference, title=title, notes=notes)
    try:
        with transaction.atomic():
            case.save()
            audit_record(
                user=user,
                case=case,
                action=AuditEntry.Action.CASE_CREATE,
                client_address=client_address,
            )
    except IntegrityError:  # opened by a teammate a moment ago
        raise ValidationError(
            {"reference": f"your team already has a case {case.reference!r}"}
        ) from None
    return case


def case_update(*, case, user, client_address=None, legal_hold=None, **fields) -> Case:
    """Change title and notes, and put on or release a legal hold (each audited)."""
    _check(user)
    unknown = set(fields) - set(CASE_FIELDS)
    if unknown:
        raise ValidationError({name: "this field cannot be changed" for name in unknown})
    for name, value in fields.items():
        setattr(case, name, (value or "").strip() if name == "title" else value or "")
    actions = [AuditEntry.Action.CASE_UPDATE] if fields else []
    if legal_hold is not None and legal_hold != case.legal_hold:
        case.legal_hold = legal_hold
        case.legal_hold_by, case.legal_hold_at = (
            (user, timezone.now()) if legal_hold else (None, None)
        )
        actions.append(
            AuditEntry.Action.LEGAL_HOLD if legal_hold else AuditEntry.Action.LEGAL_HOLD_RELEASE
        )
    case.full_clean(exclude=["team"], validate_constraints=False)
    with transaction.atomic():
        case.save()
        for action in actions:
            audit_record(user=user, case=case, action=action, client_address=client_address)
    return case


def case_viewed(*, case, user, client_address=None) -> None:
    audit_record(
        user=user, case=case, action=AuditEntry.Action.CASE_VIEW, client_address=client_address
    )


def search_attach(*, search, user, case=None, same_room=None, client_address=None) -> Search:
    """Put a search into one of the team's cases (or out of it, `case=None`), and mark
    whether it shows the same room as the case's other "same room" photos.

    The audit row names the case the search left as well as the one it joined, so a
    case's trail shows a photo taken out of it (and so out of its legal hold).
    """
    _check(user)
    if case is not None and not cases_visible_to(user).filter(pk=case.pk).exists():
        raise ValidationError({"case": "no such case in your team"})
    previous = search.case
    search.case = case
    if same_room is not None:
        search.same_room = same_room
    if case is None and search.photo_set is None:
        search.same_room = False  # outside a case "same room" has nothing to be the same as
    touched = {c.pk: c for c in (previous, case) if c is not None}.values()
    with transaction.atomic():
        search.save(update_fields=["case", "same_room"])
        # The cases list is sorted by activity. Rows first, audit last: the audit chain's
        # head is one lock every audited transaction takes, so it is taken at the end.
        Case.objects.filter(pk__in=[c.pk for c in touched]).update(updated_at=timezone.now())
        for touched_case in touched:
            audit_record(
                user=user,
                search=search,
                case=touched_case,
                action=AuditEntry.Action.CASE_ATTACH,
                client_address=client_address,
            )
    return search


def case_of(user, case_id) -> Case | None:
    """The team's case with this id, or None (unknown and another team's alike)."""
    try:
        return cases_visible_to(user).get(pk=case_id)
    except (Case.DoesNotExist, ValidationError):
        return None


def case_searches(case, user) -> QuerySet[Search]:
    return searches_visible_to(user).filter(case=case).order_by("created_at")


@dataclass(frozen=True)
class CombinedHotel:
    rank: int
    score: float
    hotel: dict  # the summary every search result carries
    photos: int  # how many of the fused photos listed it
    decision: str | None  # the latest hotel-level verdict in any of the case's searches


def combined_ranking(searches, k=10) -> list[CombinedHotel]:
    """One hotel ranking for the "same room" searches of a case (`fuse_rankings`)."""
    chosen = [search for search in searches if search.same_room]
    rankings, summaries = [], {}
    for search in chosen:
        rankings.append([(hit["hotel"]["id"], hit["score"]) for hit in search.hotels])
        summaries.update({hit["hotel"]["id"]: hit["hotel"] for hit in search.hotels})
    verdicts = hotel_verdicts(searches)
    return [
        CombinedHotel(rank, round(score, 6), summaries[hotel], photos, verdicts.get(hotel))
        for rank, (hotel, score, photos) in enumerate(fuse_rankings(rankings)[:k], 1)
    ]


def hotel_verdicts(searches) -> dict[int, str]:
    """{hotel id: the latest hotel-level verdict in any of `searches`}: a case's state of
    each hotel, for its table, its map and its API alike."""
    latest = {}
    for search in searches:
        for (hotel_id, image_id), decision in hotel_decisions(search).items():
            if image_id is None:
                previous = latest.get(hotel_id)
                if previous is None or previous.created_at <= decision.created_at:
                    latest[hotel_id] = decision
    return {hotel_id: decision.verdict for hotel_id, decision in latest.items()}
