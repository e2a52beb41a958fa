"""Hotel context: each photo blended with its hotel's nearest photos."""

import numpy as np
import pytest

from retrieval import context
from retrieval.context import (
    NEIGHBOURS,
    UNLABELLED,
    context_vectors,
    leading_hotels,
    neighbour_table,
    scores_from_table,
)


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_photo_is_blended_with_its_nearest_photos_of_the_same_hotel_only():
    rng = np.random.default_rng(0)
    vectors = unit(rng.normal(size=(9, 16)))
    hotels = np.array([1, 1, 1, 1, 1, 2, 2, UNLABELLED, 3])
    blended = context_vectors(vectors, hotels)
    similarity = vectors[:5] @ vectors[0]
    nearest = np.argsort(-similarity)[1 : NEIGHBOURS + 1]  # itself first
    expected = vectors[0] + vectors[nearest].sum(axis=0)
    assert np.allclose(blended[0], expected / np.linalg.norm(expected), atol=1e-6)
    pair = vectors[5] + vectors[6]  # fewer photos than NEIGHBOURS: all of them
    assert np.allclose(blended[5], pair / np.linalg.norm(pair), atol=1e-6)
    assert np.allclose(blended[7:], vectors[7:])  # no hotel known, or alone: unchanged
    assert np.allclose(np.linalg.norm(blended, axis=1), 1)


def test_leading_hotels_are_the_first_distinct_ones_at_least_k():
    ranked = [5, 5, 3, 5, 9, 3, *range(100, 200)]
    assert leading_hotels(ranked, 10)[:3] == [5, 3, 9]
    assert len(leading_hotels(ranked, 10)) == 30
    assert len(leading_hotels(ranked, 40)) == 40
    assert leading_hotels([], 10) == []


@pytest.mark.parametrize("block_cells", [2**24, 20], ids=["one block", "hotels in blocks"])
def test_scores_from_the_neighbour_table_equal_scores_of_the_blended_vectors(
    monkeypatch, block_cells
):
    monkeypatch.setattr(context, "BLOCK_CELLS", block_cells)  # 20: 2 rows of 7 at a time
    rng = np.random.default_rng(1)
    hotels = np.array([4] * 7 + [5] * 2 + [6] + [8] * 4)  # contiguous, as in a snapshot
    vectors = unit(rng.normal(size=(len(hotels), 32)))
    vectors[9] *= 1.01  # stored float32 vectors are unit only to rounding
    starts = np.flatnonzero(np.r_[True, hotels[1:] != hotels[:-1]])
    ranges = list(zip(starts, np.r_[starts[1:], len(hotels)], strict=True))
    table, blend_norms = neighbour_table(vectors, ranges)
    assert table[9].tolist() == [-1] * NEIGHBOURS  # alone in its hotel
    assert set(table[7]) == {8, -1}  # a hotel of two: the other one only
    turns = unit(rng.normal(size=(4, 32)))
    expected = context_vectors(vectors, hotels) @ turns.T
    cosines = vectors @ turns.T
    scores = scores_from_table(cosines, np.arange(len(hotels)), table, blend_norms)
    assert np.allclose(scores, expected, atol=1e-5)
    some = np.array([8, 0, 12])  # a few photos, their neighbours read from all
    few = scores_from_table(cosines, some, table[some], blend_norms[some])
    assert np.allclose(few, expected[some], atol=1e-5)
