"""Rank hotels (and chains) for a query vector: the index, filters, verification, ranking.

`search_hotels` is the one place that asks the index for neighbours. Filters are
applied inside the nearest-neighbour search (as a hotel queryset, or the allowed image
ids for backends that only take ids), never after it, so a filtered search still
returns k hotels when k matching hotels have photos. The arithmetic that turns photos
into hotels and chains is `retrieval.ranking` (aggregation: its docstring).

Query turns: `matcher.services.describe_query` describes the query upright and turned
90/180/270° (photos whose orientation was lost); each image scores its best turn.

Hotel context (`matcher.context`): the first round's leading hotels (at least 30) are
re-scored, every live photo of theirs blended with its hotel's three nearest photos
(`retrieval.context`); the plain cosine stays each match's evidence.

Re-ranking (when the search is given the query's local features, as investigator
searches are): before aggregation, the `RerankConfig.top_k` (30) best neighbours by
cosine are verified with SIFT (up to 1000 keypoints) + RANSAC (`matcher.live_rerank`,
the same `rerank()` the evaluation scores). A match with at least `min_inliers` (6)
homography inliers scores ``cos + weight * min(inliers, cap) / cap`` (weight 0.3,
cap 40), so up to cos + 0.3; an unverified one, one beyond the top 30, or one without
stored keypoints keeps its cosine.
Image scores (``matches[].score``: the score in context, plus the lift), and so hotel
scores with ``"max"``, are therefore in [-1, 1.3].
"""

from dataclasses import dataclass

import numpy as np

from matcher.context import checks_liveness, in_hotel_context
from matcher.indexes import Neighbours, get_index, searchable_images
from matcher.live_rerank import rerank_neighbours
from matcher.results import (
    MAX_MATCHES,
    hotel_results,
    image_owners,
    shown_and_chains,
)
from retrieval.ranking import (
    BEST_M,
    CHAIN_AGGREGATION,
    HOTEL_AGGREGATION,
    aggregate_hotels,
    best_turn,
    rank_chains,
)
from rooms.selectors import HotelFilters, hotels_filtered


@dataclass
class Evidence:
    """What the ranking knew of each neighbour besides its score."""

    cosines: dict  # {image id: global cosine, before verification lifted it}
    inliers: dict  # {image id: inlier count} of the images verification checked
    # {hotel id: live photos} of every hotel ranked, where hotel context read them
    photo_counts: dict | None = None


@dataclass
class SearchOutcome:
    hotels: list  # dicts, see matcher.results.hotel_result
    chains: list  # dicts {rank, score, chain: {id, name}}


def allowed_image_ids(filters: HotelFilters | None) -> np.ndarray | None:
    """Ids of searchable images in hotels passing the filters; None = no filter."""
    if filters is None or not filters.active:
        return None
    ids = searchable_images().filter(submission__hotel__in=hotels_filtered(filters))
    return np.fromiter(ids.values_list("pk", flat=True), dtype=np.int64)


def index_restriction(index, filters: HotelFilters | None) -> dict | None:
    """Keyword arguments restricting `index.search` to the filters; None = nothing allowed.

    Backends that accept a hotel queryset get it (pgvector turns it into a subquery, so
    a country with 100k photos is not shipped as an id array); others get image ids;
    `SharedIndex` takes the filters themselves (it resolves most without the database).
    """
    if filters is None or not filters.active:
        return {}
    if getattr(index, "accepts_filters", False):
        return {"filters": filters}
    if getattr(index, "accepts_hotel_filter", False):
        hotels = hotels_filtered(filters)
        return {"hotels": hotels} if hotels.exists() else None
    image_ids = allowed_image_ids(filters)
    return {"image_ids": image_ids} if len(image_ids) else None


def search_turns(index, query_vec, k, restriction):
    """Top-k images for a (D,) vector, or for (R, D) turns of the query: best turn wins."""
    turns = np.atleast_2d(query_vec)
    if hasattr(index, "search_many"):  # one call: the turns share its fixed costs
        found = index.search_many(turns, k, **restriction, **live_check(index))
        if len(turns) == 1:
            return found[0]
    elif len(turns) == 1:
        return index.search(turns[0], k, **restriction)
    else:
        found = [index.search(turn, k, **restriction) for turn in turns]
    known = [getattr(pairs, "owners", None) for pairs in found]
    owners = None if None in known else {pk: owner for o in known for pk, owner in o.items()}
    return Neighbours(best_turn(found, k), owners=owners)


def live_check(index) -> dict:
    """`search_many`'s option to skip the liveness query of the first round where hotel
    context checks every photo it keeps (`matcher.context.checks_liveness`)."""
    return {"check_live": False} if checks_liveness(index) else {}


def _neighbours_for_hotels(
    index, query_vec, k, restriction, aggregation, m, query_features=None, first=None
):
    """Ask for max(100, 20k) images; widen while fewer than k hotels come back.

    With `query_features`, the best neighbours are re-scored by verification first.
    `first`: the first round's neighbours when already searched (a photo set's batch).
    """
    k_images, previous = first_round_size(k), None
    while True:
        if first is not None:
            neighbours, first = first, None
        else:
            neighbours = search_turns(index, query_vec, k_images, restriction)
        found = len(neighbours)
        owners = getattr(neighbours, "owners", None)  # read with the vectors (pgvector)
        if owners is None:
            owners = image_owners(image_id for image_id, _ in neighbours)
        context = in_hotel_context(neighbours, owners, query_vec, k)
        neighbours, inliers = rerank_neighbours(context.neighbours, query_features)
        image_hotel = {pk: hotel_id for pk, (hotel_id, _) in context.owners.items()}
        hits = aggregate_hotels(neighbours, image_hotel, aggregation, m)
        if len(hits) >= k or exhausted(index, found, k_images, previous):
            return hits, context.owners, Evidence(context.cosines, inliers, context.photo_counts)
        k_images, previous = k_images * 4, found


def exhausted(index, found: int, asked: int, previous: int | None) -> bool:
    """Whether a search that found `found` of `asked` images has nothing more to give.

    Fewer than asked means "no more" for exact answers; an approximate graph in the
    database (pgvector) may also come back short of what it holds (a graph over many
    near-identical vectors does), so there it means "no more" only once asking for
    more brought nothing new.
    """
    if found >= asked:
        return False
    return getattr(index, "exhaustive_when_short", True) or found == previous


def first_round_size(k: int) -> int:
    return max(100, 20 * k)


def search_photo_set(index, query_vecs, k, restriction) -> list | None:
    """First-round neighbours of each photo of a set, from one `search_many` call.

    Photos of one room share the index's fixed costs (catch-up, filter, liveness) and
    its walk call, and (`SharedIndex`) one walk budget: only each photo's likely turns
    are walked in full. None when the backend searches one query at a time.
    """
    if not hasattr(index, "search_many") or restriction is None:
        return None
    turns, size = [np.atleast_2d(vec) for vec in query_vecs], first_round_size(k)
    views = {len(photo) for photo in turns}  # each photo's views, walked as a budget
    budget = (
        {"turns": views.pop()} if len(views) == 1 and getattr(index, "budgets_sets", False) else {}
    )
    found = index.search_many(
        np.concatenate(turns), size, **restriction, **budget, **live_check(index)
    )
    firsts, start = [], 0
    for photo in turns:
        mine = found[start : start + len(photo)]
        start += len(photo)
        owners = {pk: owner for pairs in mine for pk, owner in pairs.owners.items()}
        firsts.append(Neighbours(best_turn(mine, size), owners=owners))
    return firsts


def search_hotels_set(query_vecs, *, k=10, filters=None, query_features=None) -> list:
    """`search_hotels` for each photo of a set of one room, the index searched once."""
    query_features = query_features or [None] * len(query_vecs)
    index = get_index()
    firsts = search_photo_set(index, query_vecs, k, index_restriction(index, filters))
    firsts = firsts or [None] * len(query_vecs)
    return [
        search_hotels(vec, k=k, filters=filters, query_features=features, first=first)
        for vec, features, first in zip(query_vecs, query_features, firsts, strict=True)
    ]


def search_hotels(
    query_vec,
    *,
    k=10,
    filters: HotelFilters | None = None,
    aggregation=HOTEL_AGGREGATION,
    m=BEST_M,
    chain_aggregation=CHAIN_AGGREGATION,
    chain_m=BEST_M,
    query_features=None,
    first=None,
) -> SearchOutcome:
    """The k most likely hotels for `query_vec` (L2-normalised), best first, and chains.

    `query_vec` may also be (R, D): the query turned R ways (`describe_query`); each
    image then scores its best turn.

    `query_features`: the query's `LocalFeatures` (`live_rerank.describe_local(image,
    mask)`) to re-rank by verification; None ranks by cosine alone.
    `first`: this query's first-round neighbours, from `search_photo_set`.
    """
    index = get_index()
    restriction = index_restriction(index, filters)
    if restriction is None:
        return SearchOutcome(hotels=[], chains=[])
    hits, owners, evidence = _neighbours_for_hotels(
        index, query_vec, k, restriction, aggregation, m, query_features, first
    )
    shown = [image_id for hit in hits[:k] for image_id, _ in hit.matches[:MAX_MATCHES]]
    chains = rank_chains(hits, dict(owners.values()), chain_aggregation, chain_m)
    # Hotel details only for what the results show, read with the chains' names.
    images, chain_results = shown_and_chains(shown, chains)
    # An image hidden since the ranking query loses its place; its hotel keeps the others.
    top = [hit for hit in hits[:k] if any(pk in images for pk, _ in hit.matches[:MAX_MATCHES])]
    for hit in top:
        hit.matches = [match for match in hit.matches if match[0] in images]
    return SearchOutcome(hotels=hotel_results(top, images, evidence), chains=chain_results)
