"""Hotel aggregation metrics, checked by hand."""

import pytest

from retrieval.hotel_metrics import hotel_metrics, hotel_rank

# Gallery: images 0-2 in hotel "A" (one strong, two weak), 3-4 in hotel "B" (two good).
GROUPS = {0: "A", 1: "A", 2: "A", 3: "B", 4: "B"}
NEIGHBOURS = [(0, 0.95), (3, 0.9), (4, 0.88), (1, 0.2), (2, 0.1)]


@pytest.mark.parametrize(
    "aggregation,m,expected_a,expected_b",
    [
        ("max", 1, 1, 2),  # A's single best photo (0.95) beats B's best (0.9)
        ("sum", 2, 2, 1),  # B: 0.9 + 0.88 = 1.78 beats A: 0.95 + 0.2 = 1.15
        ("sum", 3, 2, 1),  # A: 1.25, B: 1.78 (B has only two)
    ],
)
def test_hotel_rank_per_aggregation(aggregation, m, expected_a, expected_b):
    assert hotel_rank(NEIGHBOURS, GROUPS, "A", aggregation, m) == expected_a
    assert hotel_rank(NEIGHBOURS, GROUPS, "B", aggregation, m) == expected_b


def test_missing_hotel_has_no_rank():
    assert hotel_rank(NEIGHBOURS, GROUPS, "C", "max", 1) is None


def test_metrics_average_top1_top10_and_map5():
    gallery_groups = ["A", "A", "A", "B", "B"]
    # Query 1 belongs to A, query 2 to B, query 3 to C (no photo); same neighbours.
    metrics = hotel_metrics([NEIGHBOURS] * 3, gallery_groups, ["A", "B", "C"])
    assert metrics["max"] == {"top1": 1 / 3, "top10": 2 / 3, "map5": (1 + 1 / 2) / 3}
    assert metrics["sum of best 2"] == {"top1": 1 / 3, "top10": 2 / 3, "map5": (1 / 2 + 1) / 3}
