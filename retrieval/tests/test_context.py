"""Hotel context: each photo blended with its hotel's nearest photos."""

import numpy as np

from retrieval.context import NEIGHBOURS, UNLABELLED, context_vectors, leading_hotels


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
