"""Investigator pages: the search form (eraser), results, the team's recent searches.

Thin views: the form collects, `search_create` validates and ranks, selectors decide
what a user may see. Every page here may show a victim's photo, so nothing is cached.
"""

import io

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from PIL import Image, ImageOps
from rest_framework.throttling import ScopedRateThrottle

from investigations.forms import SearchForm
from investigations.models import AuditEntry, Search
from investigations.permissions import investigator_required
from investigations.selectors import searches_visible_to
from investigations.services import audit_record, search_create
from matcher.services import IndexVersionMismatch
from traffickcam.client import client_address

PREVIEW_LONG_SIDE = 1600
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
        return render(request, "investigations/search.html", {"form": SearchForm()})
    throttle = SearchPageThrottle()
    if not throttle.allow_request(request, throttle):
        context = {"form": SearchForm(), "page_error": _throttled_reason(throttle)}
        return render(request, "investigations/search.html", context, status=429)
    form = SearchForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "investigations/search.html", {"form": form}, status=400)
    try:
        search = search_create(
            user=request.user, client_address=client_address(request), **form.search_arguments()
        )
    except ValidationError as exc:
        form.add_service_errors(exc)
        return render(request, "investigations/search.html", {"form": form}, status=400)
    except IndexVersionMismatch:
        # Mid-way through a model change: retrying later works, nothing was written.
        reason = "Search is temporarily unavailable (the index is being updated). Try again soon."
        context = {"form": form, "page_error": reason}
        return render(request, "investigations/search.html", context, status=503)
    return redirect("investigations:search-detail", pk=search.pk)


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
    context = {
        "search": search,
        "hotels": search.hotels,
        "chains": search.chains,
        "exif": [
            (label, search.query_exif[key])
            for key, label in EXIF_LABELS
            if key in search.query_exif
        ],
        "region_style": _region_style(search),
        "map_points": _map_points(search.hotels),
        "map_tile_url": settings.MAP_TILE_URL,
        "exports": _export_links(search),
    }
    return render(request, "investigations/results.html", context)


def _map_points(hotels) -> list[dict]:
    return [
        {
            "rank": hit["rank"],
            "name": hit["hotel"]["name"],
            "city": hit["hotel"]["city"],
            "score": hit["score"],
            "lat": hit["hotel"]["latitude"],
            "lon": hit["hotel"]["longitude"],
        }
        for hit in hotels
        if hit["hotel"].get("latitude") is not None and hit["hotel"].get("longitude") is not None
    ]


def _region_style(search) -> str:
    """CSS placing the region box over the preview, in percent of the upright photo."""
    if not search.region:
        return ""
    size = _upright_size(search)
    if not size:
        return ""
    x, y, w, h = search.region
    width, height = size
    return (
        f"left:{100 * x / width:.3f}%;top:{100 * y / height:.3f}%;"
        f"width:{100 * w / width:.3f}%;height:{100 * h / height:.3f}%"
    )


def _paint_erased(photo, search) -> None:
    """Show what the investigator erased: the masked pixels tinted red, as on the canvas."""
    if not search.query_mask.name:
        return
    with search.query_mask.open("rb") as fh, Image.open(fh) as mask:
        erased = mask.convert("L").point(lambda value: 140 if value > 127 else 0)
    if erased.size == photo.size:
        photo.paste(Image.new("RGB", photo.size, (220, 30, 30)), mask=erased)


def _upright_size(search) -> tuple[int, int] | None:
    try:
        with search.query_image.open("rb") as fh, Image.open(fh) as image:
            width, height = image.size
            # Orientations 5-8 swap width and height (exif_transpose does the same).
            if image.getexif().get(0x0112) in (5, 6, 7, 8):
                width, height = height, width
            return width, height
    except (OSError, ValueError):
        return None


def _export_links(search) -> list[tuple[str, str]]:
    # The API's exports: session auth works there too, and they write the audit entry.
    return [
        (label, reverse(f"investigations_api:{name}", kwargs={"pk": search.pk}))
        for label, name in (("CSV", "export-csv"), ("JSON", "export-json"))
    ]


@never_cache
@investigator_required
@require_GET
def query_preview(request, pk):
    """The query photo as an upright JPEG without metadata, for this page's <img>.

    Browsers cannot all show HEIC, and the original file's EXIF (GPS, serial) belongs
    in the results table, not in a file that gets saved by right-click. Audited like
    the API's download of the original.
    """
    search = _visible_search(request, pk)
    try:
        with search.query_image.open("rb") as fh, Image.open(fh) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
        _paint_erased(upright, search)
    except (OSError, ValueError):
        raise Http404("The query photo is no longer available.") from None
    upright.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE))
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=85)
    audit_record(
        user=request.user,
        search=search,
        action=AuditEntry.Action.QUERY_IMAGE,
        client_address=client_address(request),
    )
    response = HttpResponse(buffer.getvalue(), content_type="image/jpeg")
    response["Content-Disposition"] = 'inline; filename="query.jpg"'
    return response


@never_cache
@investigator_required
@require_GET
def search_list(request):
    searches = searches_visible_to(request.user).order_by("-created_at")
    page = Paginator(searches, RECENT_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "retention_days": settings.SEARCH_RETENTION_DAYS}
    return render(request, "investigations/search_list.html", context)
