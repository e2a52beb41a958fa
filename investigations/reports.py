"""Case-file reports (PDF, WeasyPrint): one search, or a whole case.

Generated on request and returned, never stored: a report lives only as long as the
download, so it needs no retention of its own. Pictures are embedded as data URIs and
the renderer may fetch nothing else.
"""

import base64
import io

from django.template.loader import render_to_string
from django.utils import timezone

from investigations import evidence
from investigations.cases import case_searches, combined_ranking
from investigations.models import AuditEntry
from investigations.presenting import hotel_decisions, results_for, revision_of
from investigations.previews import erased_preview
from matcher.services import MatchGone, gallery_photo

QUERY_SIDE = 900  # pixels of the query photo's long side in a report
THUMB_SIDE = 320
HEATMAP_HOTELS = 3  # heat maps for the best match of the top hotels (~0.2 s each)
CASE_HOTELS = 5  # hotels listed per search in a case report


class ReportUnavailable(RuntimeError):
    """The renderer is not installed (WeasyPrint and Debian's pango)."""


def search_report_pdf(search, *, user) -> bytes:
    return _pdf(
        "investigations/report_search.html",
        {"search": _search_section(search, HEATMAP_HOTELS, hotels=None), "user": user},
    )


def case_report_pdf(case, *, user) -> bytes:
    searches = list(case_searches(case, user))
    context = {
        "case": case,
        "user": user,
        "searches": [_search_section(s, 0, hotels=CASE_HOTELS) for s in searches],
        "combined": combined_ranking(searches),
        "audit": AuditEntry.objects.filter(case_id=case.pk).order_by("created_at", "pk"),
    }
    return _pdf("investigations/report_case.html", context)


def _search_section(search, heatmap_hotels, hotels=None) -> dict:
    revision = revision_of(search)
    results = results_for(search, revision)[:hotels]
    for rank, hotel in enumerate(results):
        for match in hotel["matches"]:
            match["thumbnail"] = _thumbnail(match["image_id"])
        if rank < heatmap_hotels and hotel["matches"]:
            best = hotel["matches"][0]
            best["heatmap"] = _heatmap(search, revision, best["image_id"])
    decisions = search.decisions.select_related("created_by").order_by("created_at", "pk")
    return {
        "search": search,
        "revision": revision,
        "revisions": search.revisions.select_related("created_by").order_by("number"),
        "query": _query_image(search, revision),
        "query_bytes": _size(search.query_image),
        "hotels": results,
        "decisions": decisions,
        "latest": hotel_decisions(search),
        "audit": AuditEntry.objects.filter(search_id=search.pk).order_by("created_at", "pk"),
    }


def _query_image(search, revision) -> str | None:
    try:
        return _data_uri(erased_preview(search, revision.query_mask, QUERY_SIDE), "JPEG")
    except (OSError, ValueError):
        return None


def _thumbnail(image_id) -> str | None:
    try:
        image = gallery_photo(image_id)
    except MatchGone:  # hidden or deleted since the search: the report says so
        return None
    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return _data_uri(image, "JPEG")


def _heatmap(search, revision, image_id) -> str | None:
    try:
        png = evidence.heatmap_png(search, revision, image_id, "pair")
    except (LookupError, ValueError, OSError):  # the photo is gone, or not decomposable
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _size(field_file) -> int | None:
    try:
        return field_file.size
    except (OSError, ValueError):
        return None


def _data_uri(image, fmt) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, fmt, quality=85)
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode()


def _weasyprint():
    """WeasyPrint's HTML and URLFetcher, imported without its side effect on Pillow.

    Importing `weasyprint.images` sets `ImageFile.LOAD_TRUNCATED_IMAGES = True` for the
    whole process, and the traveller intake relies on Pillow refusing a cut-off photo.
    """
    from PIL import ImageFile

    strict = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as exc:  # OSError: pango missing
        raise ReportUnavailable(f"PDF reports need WeasyPrint and pango: {exc}") from exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = strict
    return HTML, URLFetcher


def _pdf(template, context) -> bytes:
    HTML, URLFetcher = _weasyprint()
    html = render_to_string(template, {**context, "generated_at": timezone.now()})
    # Data URIs only: a hotel name or a note cannot make the server fetch a URL or a file.
    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    return HTML(string=html, url_fetcher=fetcher).write_pdf()
