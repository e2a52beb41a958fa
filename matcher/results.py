"""Shaping a ranking into the result dicts stored with a search and served by the API.

Plain values in one query each: model instances (image, submission, hotel, chain) for
the ~40 shown images cost more than the query (cProfile at 1M: 17 ms, now 10).
"""

from django.db.models import Count

from matcher.indexes import live_images
from matcher.indexes.sql import IdsStatement, rows_together
from matcher.live_rerank import verified
from rooms.models import Chain, RoomImage

MAX_MATCHES = 4  # gallery photos shown per hotel

# A result's hotel, read as plain values with its shown images (see shown_and_chains).
HOTEL_COLUMNS = {
    "id": "submission__hotel_id",
    "name": "submission__hotel__name",
    "chain": "submission__hotel__chain__name",
    "city": "submission__hotel__city",
    "country_code": "submission__hotel__country_code",
    "latitude": "submission__hotel__latitude",
    "longitude": "submission__hotel__longitude",
}


def shown_and_chains(image_ids, chains) -> tuple[dict[int, dict], list[dict]]:
    """({image id: {"url", "room_number", "uploaded_at", "hotel"}} of the images among
    `image_ids` still live, result dicts of the (chain id, score) pairs `chains`).

    `image_ids` come from the index, so they had an active vector a moment ago; what
    can have changed since is liveness (hidden, flagged, deleted). The two queries are
    sent together (one wait instead of two on PostgreSQL).
    """
    shown, names = rows_together((SHOWN, list(image_ids)), (CHAIN_NAMES, [pk for pk, _ in chains]))
    return shown_from_rows(shown), named_chains(chains, dict(names))


def shown_from_rows(rows) -> dict[int, dict]:
    shown = {}
    for pk, file, thumbnail, room, uploaded, *hotel_values in rows:
        shown[pk] = {
            "url": RoomImage.thumbnail_url_of(file, thumbnail),
            "room_number": room,
            "uploaded_at": uploaded.isoformat(),
            "hotel": dict(zip(HOTEL_COLUMNS, hotel_values, strict=True)),
        }
    return shown


SHOWN = IdsStatement(
    lambda ids: live_images()
    .filter(pk__in=ids)
    .order_by()
    .values_list(
        "pk", "file", "thumbnail", "submission__room_number", "submission__created_at",
        *HOTEL_COLUMNS.values(),
    )
)  # fmt: skip


def hotel_photo_counts(hotel_ids) -> dict[int, int]:
    """{hotel id: live gallery photos}: how much of the hotel the gallery has seen."""
    rows = live_images().filter(submission__hotel_id__in=list(hotel_ids))
    counts = rows.values("submission__hotel_id").annotate(n=Count("pk")).order_by()
    return {row["submission__hotel_id"]: row["n"] for row in counts}


def image_owners(image_ids) -> dict[int, tuple[int, int | None]]:
    """{image id: (hotel id, chain id)} of the images among `image_ids` still live.

    Like `shown_and_chains`, its ids come from the index a moment before, so liveness is
    all that can have changed. Plain values: the ranking reads hundreds of neighbours
    per search, and building model instances for all of them cost more than the vector
    search itself at 1M.
    """
    rows = live_images().filter(pk__in=list(image_ids))
    triples = rows.values_list("pk", "submission__hotel_id", "submission__hotel__chain_id")
    return {pk: (hotel_id, chain_id) for pk, hotel_id, chain_id in triples}


def hotel_results(hits, images, evidence) -> list[dict]:
    """Result dicts of the shown hotels, best first (`evidence`: `search.Evidence`; its
    photo counts, where hotel context read every photo of the hotels, save a query)."""
    counts = evidence.photo_counts
    if counts is None:
        counts = hotel_photo_counts(images[hit.matches[0][0]]["hotel"]["id"] for hit in hits)
    return [hotel_result(rank, hit, images, evidence, counts) for rank, hit in enumerate(hits, 1)]


def hotel_result(rank, hit, images, evidence, counts) -> dict:
    hotel = images[hit.matches[0][0]]["hotel"]
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "hotel": hotel,
        "photo_count": counts.get(hotel["id"], 0),
        "matches": [
            match_result(image_id, score, images[image_id], evidence)
            for image_id, score in hit.matches[:MAX_MATCHES]
        ],
    }


def match_result(image_id, score, image, evidence) -> dict:
    inliers = evidence.inliers.get(image_id)
    return {
        "image_id": image_id,
        "score": round(score, 6),
        # The plain cosine: what the heat maps decompose (score = the cosine in hotel
        # context + the lift).
        "cosine": round(float(evidence.cosines.get(image_id, score)), 6),
        "url": image["url"],
        "room_number": image["room_number"],
        "uploaded_at": image["uploaded_at"],
        "verified": verified(inliers),
        "inliers": inliers,
    }


def named_chains(chains, names: dict) -> list[dict]:
    return [
        {"rank": rank, "score": round(score, 6), "chain": {"id": pk, "name": names[pk]}}
        for rank, (pk, score) in enumerate(chains, 1)
    ]


CHAIN_NAMES = IdsStatement(
    lambda ids: Chain.objects.filter(pk__in=ids).order_by().values_list("pk", "name")
)
