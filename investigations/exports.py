"""Case-file exports of one search: JSON (complete) and CSV (one row per ranked hotel).

`absolute_url` turns the stored relative photo URLs into ones that still work
when the file is read outside the site (the API passes `request.build_absolute_uri`).
"""

import csv
import io
import json

from investigations.presenting import results_for, revision_of

CSV_COLUMNS = [
    "search_id",
    "created_at",
    "investigator",
    "query_sha256",
    "filters",
    "model_version",
    "rank",
    "score",
    "hotel_id",
    "hotel_name",
    "chain",
    "city",
    "country_code",
    "latitude",
    "longitude",
    "photo_count",
    "decision",
    "decision_note",
    "match_image_ids",
    "match_scores",
    "match_urls",
    "match_room_numbers",
    "match_verified",
    "match_inliers",
    "match_decisions",
]
# Per-match columns: space-separated, in the same order in each (rooms may hold spaces:
# they are written with "_" there).
MATCH_COLUMNS = ("image_id", "score", "url", "room_number", "verified", "inliers", "decision")
# A cell starting with these runs as a formula in spreadsheet software.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def search_export(search, absolute_url=str) -> dict:
    """The search's latest revision with its evidence, every revision and every decision."""

    revision = revision_of(search)
    return {
        "search_id": str(search.pk),
        "created_at": search.created_at.isoformat(),
        "investigator": search.owner.get_username(),
        "team": search.team.name if search.team else None,
        "query_sha256": search.query_sha256,
        "mask_sha256": search.mask_sha256 or None,
        "revision": revision.number,
        "revisions": [_revision(r) for r in search.revisions.order_by("number")],
        "region": revision.region,
        "filters": revision.filters,
        "k": revision.k,
        "model_version": revision.model_version,
        "verified_lift": revision.verified_lift,
        "query_exif": search.query_exif,
        "hotels": [
            {**hotel, "matches": [_absolute(m, absolute_url) for m in hotel["matches"]]}
            for hotel in results_for(search, revision)
        ],
        "chains": revision.chains,
        "decisions": [_decision(d) for d in search.decisions.order_by("created_at", "pk")],
    }


def _revision(revision) -> dict:
    return {
        "number": revision.number,
        "created_at": revision.created_at.isoformat(),
        "created_by": revision.created_by.get_username() if revision.created_by else None,
        "filters": revision.filters,
        "k": revision.k,
        "region": revision.region,
        "mask_sha256": revision.mask_sha256 or None,
        "top_hotel": revision.hotels[0]["hotel"]["name"] if revision.hotels else None,
    }


def _decision(decision) -> dict:
    return {
        "created_at": decision.created_at.isoformat(),
        "investigator": decision.created_by.get_username() if decision.created_by else None,
        "revision": decision.revision,
        "hotel_id": decision.hotel_id,
        "hotel_name": decision.hotel_name,
        "image_id": decision.image_id,
        "verdict": decision.verdict,
        "note": decision.note,
    }


def _absolute(match, absolute_url):
    urls = {key: absolute_url(value) for key, value in match.items() if key.endswith("url")}
    return {**match, **urls}


def _text(value):
    """Free text from the catalogue or a username, defused for spreadsheets."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def search_export_csv(search, absolute_url=str) -> str:
    data = search_export(search, absolute_url)
    head = [
        data["search_id"],
        data["created_at"],
        _text(data["investigator"]),
        data["query_sha256"],
        _json_filters(data["filters"]),
        data["model_version"],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for hotel in data["hotels"]:
        info, matches = hotel["hotel"], hotel["matches"]
        row = [hotel["rank"], hotel["score"], info["id"], _text(info["name"])]
        row += [_text(info["chain"]), _text(info["city"]), info["country_code"]]
        row += [info["latitude"], info["longitude"]]
        row += [hotel["photo_count"], hotel["decision"] or "", _text(hotel["decision_note"])]
        # Defused once per cell: only its first character can start a formula.
        row += [_text(" ".join(_cell(m[key]) for m in matches)) for key in MATCH_COLUMNS]
        writer.writerow(head + row)
    if not data["hotels"]:  # the case file still records that the search found nothing
        writer.writerow(head + [""] * (len(CSV_COLUMNS) - len(head)))
    return buffer.getvalue()


def _cell(value) -> str:
    """One match's value in a space-separated column ("n/a" for none: a "-" would read
    as a formula)."""
    if value is None or value == "":
        return "n/a"
    return str(value).replace(" ", "_")


def _json_filters(filters):
    return json.dumps(filters, sort_keys=True) if filters else ""
