"""Shaping a ranking into the result dicts stored with a search and served by the API.

Plain values in one query each: model instances (image, submission, hotel, chain) for
the ~40 shown images cost more than the query (cProfile at 1M: 17 ms, now 10).
"""

from matcher.indexes import live_images
from rooms.models import Chain, RoomImage

MAX_MATCHES = 4  # gallery photos shown per hotel

# A result's hotel, read as plain values with its shown images (see shown_images).
HOTEL_COLUMNS = {
    "id": "submission__hotel_id",
    "name": "submission__hotel__name",
    "chain": "submission__hotel__chain__name",
    "city": "submission__hotel__city",
    "country_code": "submission__hotel__country_code",
    "latitude": "submission__hotel__latitude",
    "longitude": "submission__hotel__longitude",
}


def shown_images(image_ids) -> dict[int, dict]:
    """{image id: {"url", "hotel"}} of the images among `image_ids` still live.

    `image_ids` come from the index, so they had an active vector a moment ago; what
    can have changed since is liveness (hidden, flagged, deleted).
    """
    rows = live_images().filter(pk__in=list(image_ids))
    shown = {}
    for pk, file, thumbnail, *hotel_values in rows.values_list(
        "pk", "file", "thumbnail", *HOTEL_COLUMNS.values()
    ):
        shown[pk] = {
            "url": RoomImage.thumbnail_url_of(file, thumbnail),
            "hotel": dict(zip(HOTEL_COLUMNS, hotel_values, strict=True)),
        }
    return shown


def image_owners(image_ids) -> dict[int, tuple[int, int | None]]:
    """{image id: (hotel id, chain id)} of the images among `image_ids` still live.

    Like `shown_images`, its ids come from the index a moment before, so liveness is
    all that can have changed. Plain values: the ranking reads hundreds of neighbours
    per search, and building model instances for all of them cost more than the vector
    search itself at 1M.
    """
    rows = live_images().filter(pk__in=list(image_ids))
    triples = rows.values_list("pk", "submission__hotel_id", "submission__hotel__chain_id")
    return {pk: (hotel_id, chain_id) for pk, hotel_id, chain_id in triples}


def hotel_result(rank, hit, images) -> dict:
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "hotel": images[hit.matches[0][0]]["hotel"],
        "matches": [
            {"image_id": image_id, "score": round(score, 6), "url": images[image_id]["url"]}
            for image_id, score in hit.matches[:MAX_MATCHES]
        ],
    }


def chain_results(chains) -> list[dict]:
    """Result dicts of (chain id, score) pairs, best first."""
    names = dict(Chain.objects.filter(pk__in=[pk for pk, _ in chains]).values_list("pk", "name"))
    return [
        {"rank": rank, "score": round(score, 6), "chain": {"id": pk, "name": names[pk]}}
        for rank, (pk, score) in enumerate(chains, 1)
    ]
