import math

import numpy as np
import pytest

from retrieval.metrics import average_precision, summarize, top_k_hit


def test_perfect_ranking_has_ap_one():
    assert average_precision([True, True, False, False]) == 1.0


def test_known_ranking_ap():
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision([True, False, True, False]) == pytest.approx(5 / 6)


def test_no_relevant_item_is_nan():
    assert math.isnan(average_precision([False, False]))


def test_top_k_is_any_hit_in_first_k():
    assert not top_k_hit(["b", "c", "a"], "a", 2)
    assert top_k_hit(["b", "c", "a"], "a", 3)


def test_summarize_map_and_top_k():
    ranked = np.array([["a", "a", "b"], ["c", "b", "b"]])
    result = summarize(ranked, ["a", "b"])
    assert result["map"] == pytest.approx((1.0 + (1 / 2 + 2 / 3) / 2) / 2)
    assert result["top1"] == 0.5
    assert result["top10"] == 1.0


def test_chain_top_k_skips_unknown_chains_and_counts_unknown_results_as_misses():
    groups = np.array([["x", "y"], ["x", "y"], ["x", "y"]])
    chains = np.array([[None, "c1"], ["c2", None], ["c1", "c1"]], dtype=object)
    result = summarize(groups, ["g1", "g2", "g3"], chains, ["c1", None, "c2"])
    assert result["chain_queries"] == 2
    assert result["chain_top1"] == 0.0  # first query: rank 1 is unknown-chain
    assert result["chain_top3"] == 0.5
