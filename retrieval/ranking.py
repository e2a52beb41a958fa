"""From ranked photos to ranked hotels and chains: the ranking arithmetic (pure).

Aggregation (`HOTEL_AGGREGATION`, the one default; `manage.py evaluate` compares the
others with dataset groups standing for hotels, through `retrieval.hotel_metrics`):

- ``"max"``: score(hotel) = its best image score. Measured on Holidays
  (docs/benchmarks.md, "Hotel aggregation"): hotel top-1 0.873 clean and 0.747 with a
  third of the query erased, against 0.337 / 0.253 for the sum of the best 3.
- ``"sum"`` (m): the sum of the best m image scores. It rewards hotels with many
  photos in the neighbour list whatever the right hotel's best match, so a hotel
  photographed once (most Holidays groups; new hotels in a real gallery) loses to
  any well-photographed look-alike.

Chains are ranked from their hotels' scores (`CHAIN_AGGREGATION`): the sum of the best
`BEST_M` (3) hotel scores, since a chain's decor repeats across its hotels. A hotel
without a chain is not in the chain list. Ties break on ids, so orders are reproducible.
"""

from collections import defaultdict
from dataclasses import dataclass, field

AGGREGATIONS = ("sum", "max")
HOTEL_AGGREGATION = "max"
CHAIN_AGGREGATION = "sum"
BEST_M = 3  # scores summed by "sum"


@dataclass
class HotelHit:
    hotel_id: int
    score: float
    matches: list = field(default_factory=list)  # [(image_id, similarity)], best first


def combine(similarities, aggregation=HOTEL_AGGREGATION, m=BEST_M) -> float:
    """One score from several similarities (see the module docstring)."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, not {aggregation!r}")
    best = sorted(similarities, reverse=True)
    return float(best[0] if aggregation == "max" else sum(best[:m]))


def aggregate_hotels(neighbours, image_hotel, aggregation=HOTEL_AGGREGATION, m=BEST_M):
    """Group (image_id, similarity) pairs by hotel: `HotelHit`s, best hotel first.

    Images missing from `image_hotel` (hidden or deleted since the index was built)
    are skipped.
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


def rank_chains(hotel_hits, hotel_chain, aggregation=CHAIN_AGGREGATION, m=BEST_M):
    """(chain_id, score) best first, from the hotel scores of each chain."""
    per_chain = defaultdict(list)
    for hit in hotel_hits:
        chain_id = hotel_chain.get(hit.hotel_id)
        if chain_id is not None:
            per_chain[chain_id].append(hit.score)
    ranked = [(chain_id, combine(scores, aggregation, m)) for chain_id, scores in per_chain.items()]
    return sorted(ranked, key=lambda item: (-item[1], item[0]))


def best_turn(rankings, k) -> list[tuple[int, float]]:
    """Merge the rankings of a query's turns: each image keeps its best similarity; top k."""
    best = {}
    for image_id, similarity in (pair for pairs in rankings for pair in pairs):
        best[image_id] = max(similarity, best.get(image_id, float("-inf")))
    return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]


def fuse_rankings(rankings) -> list[tuple[object, float, int]]:
    """Several photos of one room -> one hotel ranking: (hotel, fused score, photos that
    listed it), best first.

    `rankings`: per photo, its [(hotel, score)] best first (a top-k list). The fused
    score is the mean over photos of the hotel's score; where a photo did not list the
    hotel, its score there is at most that photo's lowest listed score, which is used.
    A hotel that every photo ranks fairly high beats one that a single photo ranks
    first and the others ignore: the evidence of a set is what its photos agree on.
    """
    rankings = [list(ranking) for ranking in rankings if ranking]
    if not rankings:
        return []
    floors = [min(score for _, score in ranking) for ranking in rankings]
    scores = [dict(ranking) for ranking in rankings]
    hotels = {hotel for ranking in rankings for hotel, _ in ranking}
    fused = [
        (
            hotel,
            sum(s.get(hotel, floor) for s, floor in zip(scores, floors, strict=True)) / len(scores),
            sum(hotel in s for s in scores),
        )
        for hotel in hotels
    ]
    return sorted(fused, key=lambda item: (-item[1], -item[2], str(item[0])))
