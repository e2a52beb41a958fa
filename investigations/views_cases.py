"""Case pages: the team's cases, one case's workspace (its photos, their combined
ranking, a timeline and a map), and the forms that open, edit, hold and attach.

Only the team sees a case: another team's is a 404, like a search. Every view of a
case page is audited (`case_viewed`); the services audit every change.
"""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from investigations.audit import audit_event
from investigations.cases import (
    case_create,
    case_of,
    case_searches,
    case_update,
    case_viewed,
    cases_visible_to,
    combined_ranking,
    hotel_verdicts,
    search_attach,
)
from investigations.forms import AttachForm, CaseEditForm, CaseForm
from investigations.models import AuditEntry
from investigations.permissions import investigator_required
from investigations.presenting import decision_summary
from investigations.views import _back_to, _results_page, _shown_revision, _visible_search
from traffickcam.client import client_address

TOP_HOTELS = 3  # per photo on its card
CAMERA_KEYS = ("camera_make", "camera_model")


@never_cache
@investigator_required
@require_http_methods(["GET", "POST"])
def case_list(request):
    form = CaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            case = case_create(
                user=request.user, client_address=client_address(request), **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return redirect("investigations:case-detail", pk=case.pk)
    cases = list(
        cases_visible_to(request.user).select_related("legal_hold_by").order_by("-updated_at")
    )
    status = 400 if form.errors else 200
    context = {"cases": cases, "form": form}
    response = render(request, "investigations/case_list.html", context, status=status)
    _cases_listed(request, cases, via="page")
    return response


def _cases_listed(request, cases, *, via):
    """The audit row of one showing of the team's cases list."""
    audit_event(
        user=request.user,
        action=AuditEntry.Action.CASE_LIST,
        client_address=client_address(request),
        detail={"via": via, "cases": [str(case.pk) for case in cases]},
    )


def _visible_case(request, pk):
    case = case_of(request.user, pk)
    if case is None:  # unknown and another team's alike
        raise Http404("No such case.")
    return case


@never_cache
@investigator_required
@require_http_methods(["GET"])
def case_detail(request, pk):
    return _case_page(request, _visible_case(request, pk))


@never_cache
@investigator_required
@require_http_methods(["GET", "POST"])
def case_edit(request, pk):
    """Change the title and notes; errors are shown on the case page."""
    case = _visible_case(request, pk)  # first: another team gets 404, whatever the method
    if request.method == "GET":
        return redirect("investigations:case-detail", pk=case.pk)
    form = CaseEditForm(request.POST, instance=case)
    if form.is_valid():
        try:
            case_update(
                case=case,
                user=request.user,
                client_address=client_address(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return redirect("investigations:case-detail", pk=case.pk)
    case.refresh_from_db()  # the form changed the instance; the page shows what is stored
    return _case_page(request, case, edit_form=form, status=400)


@never_cache
@investigator_required
@require_http_methods(["GET", "POST"])
def case_hold(request, pk):
    """Put the case on legal hold (its searches outlive retention) or release it."""
    case = _visible_case(request, pk)
    if request.method == "POST":
        case_update(
            case=case,
            user=request.user,
            client_address=client_address(request),
            legal_hold=request.POST.get("legal_hold") == "on",
        )
    return redirect("investigations:case-detail", pk=case.pk)


@never_cache
@investigator_required
@require_http_methods(["GET", "POST"])
def search_case(request, pk):
    """Put a search in one of the team's cases, or out of it, and mark "same room"."""
    search = _visible_search(request, pk)
    revision = _shown_revision(request, search, request.POST.get("revision") or None)
    if request.method == "GET":
        return redirect("investigations:search-detail", pk=search.pk)
    form = AttachForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            search_attach(
                search=search,
                user=request.user,
                client_address=client_address(request),
                **form.attach_arguments(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return redirect(_back_to(request, search, revision))
    return _results_page(request, search, revision, attach_form=form, status=400)


# --- the case page ---


def _case_page(request, case, *, edit_form=None, status=200):
    case_viewed(case=case, user=request.user, client_address=client_address(request))
    searches = list(case_searches(case, request.user))
    photos = [_photo(number, search) for number, search in enumerate(searches, 1)]
    combined = combined_ranking(searches)
    context = {
        "case": case,
        "edit_form": edit_form or CaseEditForm(instance=case),
        "photos": photos,
        "combined": combined,
        "same_room_count": sum(search.same_room for search in searches),
        "timeline": _timeline(photos),
        "undated": [photo for photo in photos if photo["captured"] is None],
        "map_data": _map_data(photos, combined, searches),
        "map_tile_url": settings.MAP_TILE_URL,
        "report_url": reverse("investigations_api:case-report", kwargs={"pk": case.pk}),
        "page_url": request.path,
    }
    return render(request, "investigations/case_detail.html", context, status=status)


def _photo(number, search) -> dict:
    """One of the case's photos as its card, the timeline and the map show it."""
    exif = search.query_exif
    lat, lon = exif.get("gps_latitude"), exif.get("gps_longitude")
    return {
        "number": number,
        "search": search,
        "thumb_url": reverse("investigations:query-preview", kwargs={"pk": search.pk})
        + "?size=thumb",
        "url": reverse("investigations:search-detail", kwargs={"pk": search.pk}),
        "captured_at": exif.get("captured_at"),
        "captured": _wall_clock(exif.get("captured_at")),
        "camera": " ".join(exif[key] for key in CAMERA_KEYS if exif.get(key)),
        "gps": (lat, lon) if lat is not None and lon is not None else None,
        "hotels": search.hotels[:TOP_HOTELS],
        "decisions": decision_summary(search),
    }


def _wall_clock(text) -> datetime | None:
    """A capture time as the camera's clock showed it.

    Cameras rarely record their zone: times are compared as written (an offset, when
    given, is left aside) so that photos with and without one share one timeline.
    """
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None) if text else None
    except ValueError:
        return None


def _timeline(photos) -> list[dict]:
    """The dated photos in order of capture, each placed in percent of the case's span."""
    dated = sorted((p for p in photos if p["captured"]), key=lambda p: p["captured"])
    if not dated:
        return []
    start = dated[0]["captured"]
    span = (dated[-1]["captured"] - start).total_seconds() or 1
    return [
        {
            **photo,
            "at_percent": round(100 * (photo["captured"] - start).total_seconds() / span, 2),
            "days_after_first": (photo["captured"] - start).days,
        }
        for photo in dated
    ]


def _map_data(photos, combined, searches) -> dict:
    """Candidate hotels (the combined ranking, else each photo's best), the confirmed
    ones, and the photos' own GPS positions, for case-map.js."""
    confirmed = _confirmed_hotels(searches)
    if combined:
        candidates = [(item.rank, item.hotel, item.score) for item in combined]
    else:
        candidates = [
            (hit["rank"], hit["hotel"], hit["score"]) for p in photos for hit in p["hotels"]
        ]
    hotels, summaries = {}, {hit["hotel"]["id"]: hit["hotel"] for s in searches for hit in s.hotels}
    for rank, hotel, score in candidates:
        if hotel["id"] not in hotels:
            hotels[hotel["id"]] = _hotel_point(hotel, rank, score, hotel["id"] in confirmed)
    for hotel_id in confirmed - set(hotels):
        if hotel_id in summaries:
            hotels[hotel_id] = _hotel_point(summaries[hotel_id], None, None, True)
    return {
        "hotels": [point for point in hotels.values() if point["lat"] is not None],
        "photos": [
            {"label": f"Photo {p['number']}", "lat": p["gps"][0], "lon": p["gps"][1]}
            for p in photos
            if p["gps"]
        ],
    }


def _hotel_point(hotel, rank, score, confirmed) -> dict:
    return {
        "hotel_id": hotel["id"],
        "name": hotel["name"],
        "city": hotel.get("city", ""),
        "rank": rank,
        "score": score,
        "confirmed": confirmed,
        "lat": hotel.get("latitude"),
        "lon": hotel.get("longitude"),
    }


def _confirmed_hotels(searches) -> set[int]:
    """Hotels whose latest hotel-level verdict across the case is "confirmed"."""
    verdicts = hotel_verdicts(searches)
    return {hotel_id for hotel_id, verdict in verdicts.items() if verdict == "confirmed"}
