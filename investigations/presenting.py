"""A search's results as pages, the API and exports show them: per revision, with the
evidence links and the investigators' decisions beside each hotel and photo.

Reads only. Results stored before a field existed (room number, verification,
photo count) show None for it rather than a guess.
"""

from django.http import Http404
from django.urls import reverse

from investigations.models import RUN_FIELDS, Decision, Search, SearchRevision
from rooms.models import RoomImage
from rooms.storage import is_private

MATCH_DEFAULTS = {"room_number": None, "uploaded_at": None, "inliers": None, "verified": False}


# The lifts served before searches recorded theirs (`SearchRevision.verified_lift`), for
# the help texts of those searches (the model version each search shows tells them apart).
EARLIER_LIFTS = (
    "0.5 in searches run before 7 December 2026, 0.35 in those of that day run with "
    "efficientnet-lite0"
)


def revision_of(search: Search, number=None) -> SearchRevision:
    """Revision `number` of the search (None = latest); Http404 when there is no such one.

    A search stored before revisions existed is its own revision 1 (unsaved copy).
    """
    revisions = search.revisions.all()
    if number in (None, ""):
        latest = revisions.order_by("-number").first()
        return latest or _as_revision(search)
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise Http404("No such revision.") from None
    found = revisions.filter(number=number).first()
    if found is None and number == 1 and not revisions.exists():
        return _as_revision(search)
    if found is None:
        raise Http404("No such revision.")
    return found


def _as_revision(search: Search) -> SearchRevision:
    revision = SearchRevision(search=search, number=1, created_by=search.owner)
    for field in RUN_FIELDS:
        setattr(revision, field, getattr(search, field))
    revision.query_mask.name = search.query_mask.name
    revision.created_at = search.created_at
    return revision


def hotel_decisions(search: Search) -> dict[tuple[int, int | None], Decision]:
    """{(hotel id, photo id or None): the latest decision}: the state each target is in."""
    latest = {}
    for decision in search.decisions.order_by("created_at", "pk"):
        latest[(decision.hotel_id, decision.image_id)] = decision
    return latest


def evidence_urls(search: Search, revision: int, image_id: int) -> dict:
    """Where a match's heat maps, correspondences and compare view are served."""
    kwargs = {"pk": search.pk, "revision": revision, "image_id": image_id}
    heatmap = reverse("investigations_api:heatmap", kwargs=kwargs)
    compare = reverse("investigations:compare", kwargs={"pk": search.pk, "image_id": image_id})
    return {
        "explanation_url": f"{heatmap}?side=pair",
        "heatmap_query_url": f"{heatmap}?side=query",
        "heatmap_gallery_url": f"{heatmap}?side=gallery",
        "correspondences_url": reverse("investigations_api:correspondences", kwargs=kwargs),
        "correspondences_json_url": reverse(
            "investigations_api:correspondences-json", kwargs=kwargs
        ),
        "compare_url": f"{compare}?revision={revision}",
    }


def results_for(search: Search, revision: SearchRevision) -> list[dict]:
    """The revision's ranked hotels with evidence links and decisions (see module doc)."""
    decisions = hotel_decisions(search)
    full_urls = _full_urls([m["image_id"] for h in revision.hotels for m in h["matches"]])
    return [
        _hotel(search, revision.number, hotel, decisions, full_urls) for hotel in revision.hotels
    ]


def _hotel(search, number, hotel, decisions, full_urls) -> dict:
    hotel_id = hotel["hotel"]["id"]
    return {
        **hotel,
        "photo_count": hotel.get("photo_count"),
        **_decided(decisions.get((hotel_id, None))),
        "matches": [
            {
                **MATCH_DEFAULTS,
                **match,
                **_urls(match, full_urls),
                **evidence_urls(search, number, match["image_id"]),
                **_decided(decisions.get((hotel_id, match["image_id"]))),
            }
            for match in hotel["matches"]
        ],
    }


def _urls(match, full_urls) -> dict:
    """The photo's thumbnail and full-size URLs; none once it left public media (hidden
    by a moderator since the search): the result stays, the picture is not shown."""
    if match["image_id"] in full_urls and full_urls[match["image_id"]] is None:
        return {"url": None, "full_url": None}
    return {"url": match["url"], "full_url": full_urls.get(match["image_id"], match["url"])}


def _decided(decision: Decision | None) -> dict:
    if decision is None:
        return {"decision": None, "decision_note": ""}
    return {"decision": decision.verdict, "decision_note": decision.note}


def _full_urls(image_ids) -> dict[int, str | None]:
    """{photo id: URL of the full-size stored copy (metadata stripped at intake)}; None
    for a photo a moderator has hidden since (its files left public media)."""
    storage = RoomImage._meta.get_field("file").storage
    rows = RoomImage.objects.filter(pk__in=list(image_ids)).values_list("pk", "file")
    return {pk: None if is_private(name) else storage.url(name) for pk, name in rows if name}


def decision_summary(search: Search) -> str:
    """One line for the team's history: what was decided about this search's results."""
    latest = hotel_decisions(search)
    hotels = [d for (_, image), d in latest.items() if image is None]
    photos = [d for (_, image), d in latest.items() if image is not None]
    confirmed = [d.hotel_name for d in hotels if d.verdict == Decision.Verdict.CONFIRMED]
    parts = [f"confirmed: {', '.join(confirmed)}"] if confirmed else []
    parts += _counted(hotels, Decision.Verdict.REJECTED, "hotel", "rejected")
    parts += _counted(photos, Decision.Verdict.CONFIRMED, "photo", "confirmed")
    parts += _counted(photos, Decision.Verdict.REJECTED, "photo", "rejected")
    return "; ".join(parts) or "undecided"


def _counted(decisions, verdict, noun, word) -> list[str]:
    count = sum(d.verdict == verdict for d in decisions)
    return [f"{count} {noun}{'s' if count != 1 else ''} {word}"] if count else []
