"""Investigator pages: the search form (eraser), results and their revisions, the compare
view, decisions, the team's recent searches. Case pages are in `views_cases`.

Thin views: the forms collect, the services validate, rank and record, selectors decide
what a user may see. Every page here may show a victim's photo, so nothing is cached.
"""

import io
import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.throttling import ScopedRateThrottle

from investigations.audit import audit_event, audit_record
from investigations.cases import case_of
from investigations.forms import (
    AttachForm,
    DecisionForm,
    HistoryFilterForm,
    RefineForm,
    SearchForm,
)
from investigations.models import AuditEntry, Search
from investigations.permissions import investigator_required
from investigations.presenting import (
    EARLIER_LIFTS,
    decision_summary,
    results_for,
    revision_of,
)
from investigations.previews import erased_preview, upright_size
from investigations.selectors import searches_visible_to
from investigations.services import decision_record, search_create, search_revise
from matcher.services import IndexVersionMismatch
from rooms.selectors import EARTH_RADIUS_KM
from traffickcam.client import client_address

PREVIEW_LONG_SIDE = 1600
THUMB_LONG_SIDE = 320  # ?size=thumb: lists and case cards (shown at ~160 px, sharp on HiDPI)
# Mid-way through a model change: retrying later works, nothing was written.
INDEX_UPDATING = "Search is temporarily unavailable (the index is being updated). Try again soon."
RECENT_PER_PAGE = 20
EXIF_LABELS = [
    ("camera_make", "Camera make"),
    ("camera_model", "Camera model"),
    ("body_serial_number", "Serial number"),
    ("captured_at", "Captured at"),
    ("gps_latitude", "GPS latitude"),
    ("gps_longitude", "GPS longitude"),
]


class SearchPageThrottle(ScopedRateThrottle):
    """The API's throttle (same scope, same per-user key): one quota for page and API."""

    throttle_scope = "searches"  # read from the "view", which is this throttle

    def get_rate(self):
        # At request time, not import time, so a changed setting takes effect.
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]


@never_cache
@investigator_required
@require_http_methods(["GET", "POST"])
def search_page(request):
    if request.method == "GET":
        # ?case=<id>: "add a photo" from a case page comes with that case chosen.
        form = SearchForm(user=request.user, initial={"case": request.GET.get("case")})
        return render(request, "investigations/search.html", {"form": form})
    throttle = SearchPageThrottle()
    if not throttle.allow_request(request, throttle):
        context = {"form": SearchForm(user=request.user), "page_error": _throttled_reason(throttle)}
        return render(request, "investigations/search.html", context, status=429)
    form = SearchForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        return render(request, "investigations/search.html", {"form": form}, status=400)
    try:
        search = _search_in_case(request, form)
    except ValidationError as exc:
        form.add_service_errors(exc)
        return render(request, "investigations/search.html", {"form": form}, status=400)
    except IndexVersionMismatch:
        context = {"form": form, "page_error": INDEX_UPDATING}
        return render(request, "investigations/search.html", context, status=503)
    return redirect("investigations:search-detail", pk=search.pk)


def _search_in_case(request, form) -> Search:
    """The search, in the chosen case or in one opened with it (both kept or neither)."""
    return search_create(
        user=request.user,
        client_address=client_address(request),
        case=form.cleaned_data["case"],
        new_case=form.new_case() or None,
        **form.search_arguments(),
    )


def _throttled_reason(throttle) -> str:
    wait = throttle.wait()
    minutes = max(1, round((wait or 60) / 60))
    return f"Too many searches for now; try again in about {minutes} minute(s)."


def _visible_search(request, pk) -> Search:
    try:
        return searches_visible_to(request.user).get(pk=pk)
    except Search.DoesNotExist:
        # Same answer for "no such search" and "another team's": ids reveal nothing.
        raise Http404("No such search.") from None


@never_cache
@investigator_required
@require_GET
def search_detail(request, pk):
    search = _visible_search(request, pk)
    return _results_page(request, search, _shown_revision(request, search))


def _shown_revision(request, search, number=None):
    """The revision named by ?revision=N (or `number`); the latest when none is named."""
    return revision_of(search, number or request.GET.get("revision"))


def _results_page(
    request, search, revision, *, refine_form=None, attach_form=None, errors=None, status=200
):
    """The results of one revision; `errors` = decision form errors by (hotel, image).
    Audited: every showing of a search's results, EXIF and GPS."""
    hotels = results_for(search, revision)
    query_point = _query_point(search)
    for hit in hotels:
        hit["distance_km"] = _distance_km(query_point, hit["hotel"])
        hit["form_errors"] = (errors or {}).get((hit["hotel"]["id"], None))
        for match in hit["matches"]:
            match["form_errors"] = (errors or {}).get((hit["hotel"]["id"], match["image_id"]))
    context = {
        "search": search,
        "revision": revision,
        # A search stored before revisions existed is its own (unsaved) revision 1.
        "revisions": search.revisions.select_related("created_by") or [revision],
        "hotels": hotels,
        "chains": revision.chains,
        "exif": [
            (label, search.query_exif[key])
            for key, label in EXIF_LABELS
            if key in search.query_exif
        ],
        "region_style": _region_style(search, revision.region),
        "preview_url": _preview_url(search, revision),
        "map_points": _map_points(hotels),
        "query_point": query_point,
        "map_tile_url": settings.MAP_TILE_URL,
        "exports": _export_links(search),
        "case": case_of(request.user, search.case_id) if search.case_id else None,
        "attach_form": attach_form
        or AttachForm(
            user=request.user, initial={"case": search.case_id, "same_room": search.same_room}
        ),
        "page_url": _results_url(search, revision),
        "refine_form": refine_form or RefineForm(initial=RefineForm.initial_for(revision)),
        "upright_size": _upright_size(search),
        "decision_errors": [
            message for messages in (errors or {}).values() for message in messages
        ],
        "verified_lift": revision.verified_lift,
        "earlier_lifts": EARLIER_LIFTS,
    }
    response = render(request, "investigations/results.html", context, status=status)
    _audit(request, search, AuditEntry.Action.SEARCH_VIEW, revision=revision.number)
    return response


def _audit(request, search, action, **detail):
    """One audit row for what this page showed of `search` (`via` page)."""
    audit_record(
        user=request.user,
        search=search,
        action=action,
        client_address=client_address(request),
        detail={"via": "page", **detail},
    )


def _preview_url(search, revision) -> str:
    url = reverse("investigations:query-preview", kwargs={"pk": search.pk})
    return f"{url}?revision={revision.number}"


def _query_point(search) -> dict | None:
    """Where the query photo was taken, by its own GPS tags, if it has them."""
    lat, lon = search.query_exif.get("gps_latitude"), search.query_exif.get("gps_longitude")
    if lat is None or lon is None:
        return None
    return {"lat": float(lat), "lon": float(lon)}


def _distance_km(point, hotel) -> float | None:
    """Great-circle (haversine) distance from the photo's GPS position to a hotel."""
    if point is None or hotel.get("latitude") is None or hotel.get("longitude") is None:
        return None
    lat1, lon1 = math.radians(point["lat"]), math.radians(point["lon"])
    lat2, lon2 = math.radians(hotel["latitude"]), math.radians(hotel["longitude"])
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _map_points(hotels) -> list[dict]:
    return [
        {
            "rank": hit["rank"],
            "hotel_id": hit["hotel"]["id"],
            "name": hit["hotel"]["name"],
            "city": hit["hotel"]["city"],
            "score": hit["score"],
            "lat": hit["hotel"]["latitude"],
            "lon": hit["hotel"]["longitude"],
            "distance_km": hit["distance_km"],
        }
        for hit in hotels
        if hit["hotel"].get("latitude") is not None and hit["hotel"].get("longitude") is not None
    ]


def _region_style(search, region) -> str:
    """CSS placing the region box over the preview, in percent of the upright photo."""
    if not region:
        return ""
    size = _upright_size(search)
    if not size:
        return ""
    x, y, w, h = region
    width, height = size
    return (
        f"left:{100 * x / width:.3f}%;top:{100 * y / height:.3f}%;"
        f"width:{100 * w / width:.3f}%;height:{100 * h / height:.3f}%"
    )


def _upright_size(search) -> tuple[int, int] | None:
    try:
        with search.query_image.open("rb") as fh:
            return upright_size(fh)
    except (OSError, ValueError):
        return None


def _export_links(search) -> list[tuple[str, str]]:
    # The API's exports: session auth works there too, and they write the audit entry.
    return [
        (label, reverse(f"investigations_api:{name}", kwargs={"pk": search.pk}))
        for label, name in (
            ("CSV", "export-csv"),
            ("JSON", "export-json"),
            ("Report (PDF)", "report"),
        )
    ]


@never_cache
@investigator_required
@require_GET
def query_preview(request, pk):
    """The query photo as an upright JPEG without metadata, for this page's <img>.

    Browsers cannot all show HEIC, and the original file's EXIF (GPS, serial) belongs
    in the results table, not in a file that gets saved by right-click. Audited like
    the API's download of the original. ?revision=N tints that revision's mask;
    ?size=thumb is a small copy for lists.
    """
    search = _visible_search(request, pk)
    revision = _shown_revision(request, search)
    long_side = THUMB_LONG_SIDE if request.GET.get("size") == "thumb" else PREVIEW_LONG_SIDE
    try:
        upright = erased_preview(search, revision.query_mask, long_side)
    except (OSError, ValueError):
        raise Http404("The query photo is no longer available.") from None
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=85)
    size = "thumb" if long_side == THUMB_LONG_SIDE else "preview"
    _audit(request, search, AuditEntry.Action.QUERY_IMAGE, revision=revision.number, size=size)
    response = HttpResponse(buffer.getvalue(), content_type="image/jpeg")
    response["Content-Disposition"] = 'inline; filename="query.jpg"'
    return response


# --- decide and refine: forms posted from the results and compare pages ---


@never_cache
@investigator_required
@require_http_methods(["GET", "POST"])
def decision_create(request, pk):
    """Confirm or reject a hotel or one match, then back to the page it was sent from."""
    search = _visible_search(request, pk)  # first: another team gets 404, whatever the method
    if request.method == "GET":  # e.g. after a login redirect: nothing to record
        return redirect("investigations:search-detail", pk=search.pk)
    form = DecisionForm(request.POST)
    revision = _shown_revision(request, search, request.POST.get("revision") or None)
    if form.is_valid():
        try:
            decision_record(
                search=search,
                user=request.user,
                revision=revision.number,
                client_address=client_address(request),
                **form.decision_arguments(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return redirect(_back_to(request, search, revision))
    errors = [message for messages in form.errors.values() for message in messages]
    key = (form.cleaned_data.get("hotel"), form.cleaned_data.get("image"))
    image_id = request.POST.get("from_compare")
    if image_id and image_id.isdigit():
        return _compare_page(request, search, revision, int(image_id), errors=errors, status=400)
    return _results_page(request, search, revision, errors={key: errors}, status=400)


def _back_to(request, search, revision) -> str:
    """The page the form was on (a path of this site only), else the revision's results."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return _results_url(search, revision)


def _results_url(search, revision) -> str:
    url = reverse("investigations:search-detail", kwargs={"pk": search.pk})
    return f"{url}?revision={revision.number}"


@never_cache
@investigator_required
@require_http_methods(["GET", "POST"])
def revision_create(request, pk):
    """Re-run the stored photo with the refine form's filters, k, region or mask."""
    search = _visible_search(request, pk)
    if request.method == "GET":
        return redirect("investigations:search-detail", pk=search.pk)
    form = RefineForm(request.POST, request.FILES)
    shown = _shown_revision(request, search, request.POST.get("revision") or None)
    throttle = SearchPageThrottle()
    if not throttle.allow_request(request, throttle):
        form.is_valid()  # keeps the entered values on the re-shown form
        form.add_error(None, _throttled_reason(throttle))
        return _results_page(request, search, shown, refine_form=form, status=429)
    if form.is_valid():
        try:
            revision = search_revise(
                search=search,
                user=request.user,
                client_address=client_address(request),
                **form.revise_arguments(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except IndexVersionMismatch:
            form.add_error(None, INDEX_UPDATING)
            return _results_page(request, search, shown, refine_form=form, status=503)
        else:
            return redirect(_results_url(search, revision))
    return _results_page(request, search, shown, refine_form=form, status=400)


# --- compare one match ---


@never_cache
@investigator_required
@require_GET
def compare(request, pk, image_id):
    search = _visible_search(request, pk)
    return _compare_page(request, search, _shown_revision(request, search), image_id)


def _compare_page(request, search, revision, image_id, *, errors=None, status=200):
    """The query beside one matched photo; 404 when the photo is not a match of `revision`."""
    shown = [(hit, match) for hit in results_for(search, revision) for match in hit["matches"]]
    index = next((i for i, (_, m) in enumerate(shown) if m["image_id"] == image_id), None)
    if index is None:
        raise Http404("This photo is not a match of this search.")
    hit, match = shown[index]
    context = {
        "search": search,
        "revision": revision,
        "hit": hit,
        "match": match,
        "position": index + 1,
        "total": len(shown),
        "previous_url": shown[index - 1][1]["compare_url"] if index > 0 else None,
        "next_url": shown[index + 1][1]["compare_url"] if index + 1 < len(shown) else None,
        "preview_url": _preview_url(search, revision),
        "results_url": _results_url(search, revision),
        "decision_errors": errors,
        "verified_lift": revision.verified_lift,
        "earlier_lifts": EARLIER_LIFTS,
    }
    response = render(request, "investigations/compare.html", context, status=status)
    _audit(request, search, AuditEntry.Action.COMPARE, revision=revision.number, image=image_id)
    return response


# --- the team's history ---


@never_cache
@investigator_required
@require_GET
def search_list(request):
    filters = HistoryFilterForm(request.GET, user=request.user)
    searches = filters.filtered(
        searches_visible_to(request.user)
        .select_related("case")
        .annotate(revision_count=Count("revisions"))
        .order_by("-created_at")
    )
    page = Paginator(searches, RECENT_PER_PAGE).get_page(request.GET.get("page"))
    for search in page.object_list:
        search.decision_summary = decision_summary(search)
    # The filters in use, kept in the other pages' links.
    kept = {name: value for name, value in request.GET.items() if name != "page" and value}
    context = {
        "page": page,
        "filters": filters,
        "filter_query": urlencode(kept),
        "retention_days": settings.SEARCH_RETENTION_DAYS,
    }
    response = render(request, "investigations/search_list.html", context)
    audit_event(
        user=request.user,
        action=AuditEntry.Action.SEARCH_LIST,
        client_address=client_address(request),
        detail={
            "via": "page",
            "page": page.number,
            "filters": kept,
            "searches": [str(search.pk) for search in page.object_list],
        },
    )
    return response
