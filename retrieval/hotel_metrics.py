"""From ranked images to ranked hotels: which aggregation puts the right hotel first?

The live search turns its nearest images into hotels with
`retrieval.ranking.aggregate_hotels`; this module runs that same function on the
evaluation's rankings, with dataset groups standing for hotels, so the choice of
aggregation is made by measurement (docs/benchmarks.md, "Hotel aggregation").

Metrics per aggregation: hotel top-1, top-10 (the right hotel among the first ten
distinct hotels) and MAP@5 (1/rank of the right hotel within the first five distinct
hotels, else 0; Hotel-ID's metric).
"""

from retrieval.ranking import aggregate_hotels

AGGREGATIONS = {
    "max": ("max", 1),
    "sum of best 2": ("sum", 2),
    "sum of best 3": ("sum", 3),
    "sum of best 5": ("sum", 5),
}
DEPTH = 100  # images looked at per query, as the live search does (max(100, 20k))


def hotel_rank(neighbours, groups, group, aggregation, m) -> int | None:
    """1-based rank of `group` among the hotels built from `neighbours`, or None.

    neighbours: (gallery index, similarity) best first; groups: gallery index -> group.
    """
    hits = aggregate_hotels(neighbours[:DEPTH], groups, aggregation, m)
    order = [hit.hotel_id for hit in hits]
    return order.index(group) + 1 if group in order else None


def hotel_metrics(rankings, gallery_groups, query_groups) -> dict:
    """{aggregation name: {"top1", "top10", "map5"}} over all queries."""
    groups = dict(enumerate(gallery_groups))
    results = {}
    for name, (aggregation, m) in AGGREGATIONS.items():
        ranks = [
            hotel_rank(neighbours, groups, group, aggregation, m)
            for neighbours, group in zip(rankings, query_groups, strict=True)
        ]
        count = max(1, len(ranks))
        results[name] = {
            "top1": sum(rank == 1 for rank in ranks) / count,
            "top10": sum(bool(rank) and rank <= 10 for rank in ranks) / count,
            "map5": sum(1 / rank for rank in ranks if rank and rank <= 5) / count,
        }
    return results
