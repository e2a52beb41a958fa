"""Case-file exports of one search: JSON (complete) and CSV (one row per ranked hotel).

`absolute_url` turns the stored relative photo URLs into ones that still work
when the file is read outside the site (the API passes `request.build_absolute_uri`).
"""

import csv
import io
import json

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
    "match_image_ids",
    "match_scores",
    "match_urls",
]
# A cell starting with these runs as a formula in spreadsheet software.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def search_export(search, absolute_url=str) -> dict:
    return {
        "search_id": str(search.pk),
        "created_at": search.created_at.isoformat(),
        "investigator": search.owner.get_username(),
        "team": search.team.name if search.team else None,
        "query_sha256": search.query_sha256,
        "mask_sha256": search.mask_sha256 or None,
        "region": search.region,
        "filters": search.filters,
        "k": search.k,
        "model_version": search.model_version,
        "query_exif": search.query_exif,
        "hotels": [
            {**hotel, "matches": [_absolute(m, absolute_url) for m in hotel["matches"]]}
            for hotel in search.hotels
        ],
        "chains": search.chains,
    }


def _absolute(match, absolute_url):
    return {**match, "url": absolute_url(match["url"])}


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
        # Several matches per hotel: space-separated, in the same order in each column.
        row += [" ".join(str(m[key]) for m in matches) for key in ("image_id", "score", "url")]
        writer.writerow(head + row)
    if not data["hotels"]:  # the case file still records that the search found nothing
        writer.writerow(head + [""] * (len(CSV_COLUMNS) - len(head)))
    return buffer.getvalue()


def _json_filters(filters):
    return json.dumps(filters, sort_keys=True) if filters else ""
