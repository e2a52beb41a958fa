"""The ranking arithmetic: photos to hotels, hotels to chains, turns merged (no Django)."""

import pytest

from retrieval.ranking import (
    HotelHit,
    aggregate_hotels,
    best_turn,
    combine,
    fuse_rankings,
    rank_chains,
)


def test_sum_of_best_m_rewards_agreeing_photos():
    neighbours = [(1, 0.9), (2, 0.6), (3, 0.6), (4, 0.6), (5, 0.1)]
    image_hotel = {1: 10, 2: 20, 3: 20, 4: 20, 5: 10}
    hits = aggregate_hotels(neighbours, image_hotel, "sum", m=3)
    assert [(h.hotel_id, round(h.score, 6)) for h in hits] == [(20, 1.8), (10, 1.0)]
    assert hits[1].matches == [(1, 0.9), (5, 0.1)]  # best first


def test_max_keeps_the_single_best_photo():
    neighbours = [(1, 0.9), (2, 0.6), (3, 0.6), (4, 0.6)]
    hits = aggregate_hotels(neighbours, {1: 10, 2: 20, 3: 20, 4: 20}, "max")
    assert [(h.hotel_id, h.score) for h in hits] == [(10, 0.9), (20, 0.6)]


def test_sum_is_capped_at_m_photos():
    assert combine([0.5] * 10, "sum", m=3) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        combine([0.5], "mean")


def test_unknown_images_are_skipped_and_ties_break_on_id():
    hits = aggregate_hotels([(1, 0.5), (2, 0.5), (99, 1.0)], {1: 7, 2: 3}, "sum")
    assert [h.hotel_id for h in hits] == [3, 7]


def test_chains_rank_from_their_hotels():
    hits = [HotelHit(1, 0.9), HotelHit(2, 0.8), HotelHit(3, 0.7), HotelHit(4, 0.1)]
    hotel_chain = {1: 100, 2: 200, 3: 200, 4: None}
    assert rank_chains(hits, hotel_chain, "sum", m=3) == [(200, pytest.approx(1.5)), (100, 0.9)]
    assert rank_chains(hits, hotel_chain, "max")[0] == (100, 0.9)


def test_the_one_default_is_the_best_photo():
    hits = aggregate_hotels([(1, 0.9), (2, 0.6), (3, 0.6)], {1: 10, 2: 20, 3: 20})
    assert [(h.hotel_id, h.score) for h in hits] == [(10, 0.9), (20, 0.6)]


def test_each_image_keeps_its_best_turn():
    upright, turned = [(1, 0.5), (2, 0.4)], [(2, 0.9), (3, 0.1)]
    assert best_turn([upright, turned], k=2) == [(2, 0.9), (1, 0.5)]


def test_fusion_ranks_first_the_hotel_both_photos_agree_on():
    # Each photo alone puts another hotel first; both put "agreed" second.
    first_photo = [("bathroom twin", 0.90), ("agreed", 0.85), ("x", 0.40)]
    second_photo = [("bedroom twin", 0.91), ("agreed", 0.86), ("y", 0.50)]
    fused = fuse_rankings([first_photo, second_photo])
    assert fused[0][0] == "agreed" and fused[0][2] == 2
    assert fused[0][1] == pytest.approx((0.85 + 0.86) / 2)
    # A hotel one photo did not list scores that photo's floor there, never more.
    bathroom = next(item for item in fused if item[0] == "bathroom twin")
    assert bathroom[1] == pytest.approx((0.90 + 0.50) / 2) and bathroom[2] == 1


def test_fusion_of_one_photo_is_its_own_ranking():
    ranking = [("a", 0.9), ("b", 0.8)]
    assert [(h, s) for h, s, _ in fuse_rankings([ranking])] == ranking
    assert fuse_rankings([[], []]) == []
