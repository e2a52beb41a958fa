"""Rank hotels (and chains) for a query vector.

Pure functions do the ranking; `search_hotels` is the one place that asks the
index for neighbours. Filters are applied inside the nearest-neighbour search
(as a hotel queryset, or the allowed image ids for backends that only take ids),
never after it, so a filtered search still returns k hotels when k matching
hotels have photos.

Aggregation (a parameter; `manage.py evaluate` compares them on Holidays with groups
standing for hotels, through this module's own `aggregate_hotels`):

- ``"max"`` (default): score(hotel) = its best image score. Measured on Holidays
  (docs/benchmarks.md, "Hotel aggregation"): hotel top-1 0.873 clean and 0.747 with a
  third of the query erased, against 0.337 / 0.253 for the sum of the best 3.
- ``"sum"`` (m): the sum of the best m image scores. It rewards hotels with many
  photos in the neighbour list whatever the right hotel's best match, so a hotel
  photographed once (most Holidays groups; new hotels in a real gallery) loses to
  any well-photographed look-alike.

Chains are ranked from their hotels' scores: the sum of the best `chain_m` (3)
hotel scores, since a chain's decor repeats across its hotels (or max). A hotel
without a chain is not in the chain list.

Query turns: `describe_query` describes the query upright and turned 90/180/270°
(photos whose orientation was lost); each image scores its best turn.

Re-ranking (when the search is given the query's local features, as investigator
searches are): before aggregation, the `RerankConfig.top_k` (30) best neighbours by
cosine are verified with SIFT (up to 1000 keypoints) + RANSAC (`matcher.live_rerank`,
the same `rerank()` the evaluation scores). A match with at least `min_inliers` (6)
homography inliers scores ``cos + weight * min(inliers, cap) / cap`` (weight 0.5,
cap 40), so up to cos + 0.5; an unverified one, one beyond the top 30, or one without
stored keypoints keeps its cosine.
Image scores (``matches[].score``), and so hotel scores with ``"max"``, are therefore
in [-1, 1.5].
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from matcher.embedding import get_extractor
from matcher.index import Neighbours, get_index, live_images, searchable_images
from matcher.live_rerank import rerank_neighbours
from matcher.models import IndexState
from rooms.models import Chain, Hotel, RoomImage

AGGREGATIONS = ("sum", "max")
MAX_MATCHES = 4
EARTH_RADIUS_KM = 6371.0088


@dataclass
class HotelFilters:
    country: str = ""  # ISO 3166 alpha-2
    city: str = ""  # case-insensitive exact
    chain: Chain | None = None
    near: tuple[float, float] | None = None  # (lat, lon)
    radius_km: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.country or self.city or self.chain or self.near)


@dataclass
class HotelHit:
    hotel_id: int
    score: float
    matches: list = field(default_factory=list)  # [(image_id, similarity)], best first


def combine(similarities, aggregation="sum", m=3) -> float:
    """One score from several similarities (see the module docstring)."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, not {aggregation!r}")
    best = sorted(similarities, reverse=True)
    return float(best[0] if aggregation == "max" else sum(best[:m]))


def aggregate_hotels(neighbours, image_hotel, aggregation="sum", m=3) -> list[HotelHit]:
    """Group (image_id, similarity) pairs by hotel, best hotel first.

    Images missing from `image_hotel` (hidden or deleted since the index was
    built) are skipped. Ties break on hotel id so the order is reproducible.
    """
    per_hotel = defaultdict(list)
    for image_id, similarity in neighbours:
        if image_id in image_hotel:
            per_hotel[image_hotel[image_id]].append((image_id, float(similarity)))
    hits = []
    for hotel_id, matches in per_hotel.items():
        matches.sort(key=lambda match: (-match[1], match[0]))
        score = combine([s for _, s in matches], aggregation, m)
        hits.append(HotelHit(hotel_id, score, matches))
    hits.sort(key=lambda hit: (-hit.score, hit.hotel_id))
    return hits


def rank_chains(hotel_hits, hotel_chain, aggregation="sum", m=3) -> list[tuple[int, float]]:
    """(chain_id, score) best first, from the hotel scores of each chain."""
    per_chain = defaultdict(list)
    for hit in hotel_hits:
        chain_id = hotel_chain.get(hit.hotel_id)
        if chain_id is not None:
            per_chain[chain_id].append(hit.score)
    ranked = [(chain_id, combine(scores, aggregation, m)) for chain_id, scores in per_chain.items()]
    return sorted(ranked, key=lambda item: (-item[1], item[0]))


def haversine_km(lat1, lon1, lat2, lon2) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (lat1, lon1, lat2, lon2))
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def hotels_matching(filters: HotelFilters):
    """Hotels passing the filters; the radius is a bounding box in SQL, then exact."""
    hotels = Hotel.objects.all()
    if filters.country:
        hotels = hotels.filter(country_code=filters.country.upper())
    if filters.city:
        hotels = hotels.filter(city__iexact=filters.city)
    if filters.chain:
        hotels = hotels.filter(chain=filters.chain)
    if not filters.near:
        return hotels
    lat, lon = filters.near
    radius = filters.radius_km
    dlat = math.degrees(radius / EARTH_RADIUS_KM)
    box = hotels.filter(latitude__range=(lat - dlat, lat + dlat))
    cos_lat = math.cos(math.radians(min(90.0, abs(lat) + dlat)))
    dlon = math.degrees(radius / (EARTH_RADIUS_KM * cos_lat)) if cos_lat > 1e-6 else 360
    if -180 <= lon - dlon and lon + dlon <= 180:  # else the box wraps or covers a pole
        box = box.filter(longitude__range=(lon - dlon, lon + dlon))
    ids = [
        pk
        for pk, hlat, hlon in box.values_list("pk", "latitude", "longitude")
        if haversine_km(lat, lon, hlat, hlon) <= radius
    ]
    return Hotel.objects.filter(pk__in=ids)


def allowed_image_ids(filters: HotelFilters | None) -> np.ndarray | None:
    """Ids of searchable images in hotels passing the filters; None = no filter."""
    if filters is None or not filters.active:
        return None
    ids = searchable_images().filter(submission__hotel__in=hotels_matching(filters))
    return np.fromiter(ids.values_list("pk", flat=True), dtype=np.int64)


@dataclass
class SearchOutcome:
    hotels: list  # dicts, see hotel_result()
    chains: list  # dicts {rank, score, chain: {id, name}}


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
    can have changed since is liveness (hidden, flagged, deleted). Plain values in one
    query: model instances (image, submission, hotel, chain) for the ~40 shown images
    cost more than the query (cProfile at 1M: 17 ms, now 10).
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


def _neighbours_for_hotels(index, query_vec, k, restriction, aggregation, m, query_features=None):
    """Ask for max(100, 20k) images; widen while fewer than k hotels come back.

    With `query_features`, the best neighbours are re-scored by verification first.
    """
    k_images = max(100, 20 * k)
    while True:
        neighbours = search_turns(index, query_vec, k_images, restriction)
        owners = getattr(neighbours, "owners", None)  # read with the vectors (pgvector)
        neighbours = rerank_neighbours(neighbours, query_features)
        if owners is None:
            owners = image_owners(image_id for image_id, _ in neighbours)
        image_hotel = {pk: hotel_id for pk, (hotel_id, _) in owners.items()}
        hits = aggregate_hotels(neighbours, image_hotel, aggregation, m)
        if len(hits) >= k or len(neighbours) < k_images:  # enough, or nothing more to get
            return hits, owners
        k_images *= 4


def search_turns(index, query_vec, k, restriction):
    """Top-k images for a (D,) vector, or for (R, D) turns of the query: best turn wins."""
    turns = np.atleast_2d(query_vec)
    if len(turns) == 1:
        return index.search(turns[0], k, **restriction)
    best = {}
    found = [index.search(turn, k, **restriction) for turn in turns]
    for image_id, similarity in (pair for pairs in found for pair in pairs):
        best[image_id] = max(similarity, best.get(image_id, -np.inf))
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]
    known = [getattr(pairs, "owners", None) for pairs in found]
    owners = None if None in known else {pk: owner for o in known for pk, owner in o.items()}
    return Neighbours(ranked, owners=owners)


def index_restriction(index, filters: HotelFilters | None) -> dict | None:
    """Keyword arguments restricting `index.search` to the filters; None = nothing allowed.

    Backends that accept a hotel queryset get it (pgvector turns it into a subquery, so
    a country with 100k photos is not shipped as an id array); others get image ids.
    """
    if filters is None or not filters.active:
        return {}
    if getattr(index, "accepts_hotel_filter", False):
        hotels = hotels_matching(filters)
        return {"hotels": hotels} if hotels.exists() else None
    image_ids = allowed_image_ids(filters)
    return {"image_ids": image_ids} if len(image_ids) else None


def search_hotels(
    query_vec,
    *,
    k=10,
    filters: HotelFilters | None = None,
    aggregation="max",
    m=3,
    chain_aggregation="sum",
    chain_m=3,
    query_features=None,
) -> SearchOutcome:
    """The k most likely hotels for `query_vec` (L2-normalised), best first, and chains.

    `query_vec` may also be (R, D): the query turned R ways (`describe_query`); each
    image then scores its best turn.

    `query_features`: the query's `LocalFeatures` (`live_rerank.describe_local(image,
    mask)`) to re-rank by verification; None ranks by cosine alone.
    """
    index = get_index()
    restriction = index_restriction(index, filters)
    if restriction is None:
        return SearchOutcome(hotels=[], chains=[])
    hits, owners = _neighbours_for_hotels(
        index, query_vec, k, restriction, aggregation, m, query_features
    )
    shown = [image_id for hit in hits[:k] for image_id, _ in hit.matches[:MAX_MATCHES]]
    images = shown_images(shown)  # hotel details only for what the results show
    # An image hidden since the ranking query loses its place; its hotel keeps the others.
    top = [hit for hit in hits[:k] if any(pk in images for pk, _ in hit.matches[:MAX_MATCHES])]
    for hit in top:
        hit.matches = [match for match in hit.matches if match[0] in images]
    hotel_chain = dict(owners.values())
    chains = rank_chains(hits, hotel_chain, chain_aggregation, chain_m)
    chain_names = dict(
        Chain.objects.filter(pk__in=[pk for pk, _ in chains]).values_list("pk", "name")
    )
    return SearchOutcome(
        hotels=[hotel_result(rank, hit, images) for rank, hit in enumerate(top, 1)],
        chains=[
            {"rank": rank, "score": round(score, 6), "chain": {"id": pk, "name": chain_names[pk]}}
            for rank, (pk, score) in enumerate(chains, 1)
        ],
    )


class IndexVersionMismatch(RuntimeError):
    """This process's model is not the one the index serves: the vectors would not compare."""


def describe_query(image, mask=None) -> tuple[np.ndarray, str]:
    """The query's vector and model version; erased cells (mask True) are not pooled.

    Raises `matcher.descriptors.EmptyQueryError` when the mask leaves nothing.
    """
    extractor = get_extractor()  # loads torch and the backbone on first use only
    active = IndexState.get().active_version
    if active and active != extractor.version_key:
        raise IndexVersionMismatch(
            f"the index serves {active!r} but this process describes with {extractor.version_key!r}"
        )
    # (R, D): the query at each of `query_rotations`, searched by `search_hotels`.
    vectors = extractor.describe_queries([image], [mask], batch_size=4)[0]
    return vectors, extractor.version_key
