"""Learned whitening: what varies inside a hotel stops counting (no Django)."""

import numpy as np
import pytest

from retrieval import whitening


def hotels(n_hotels=20, per_hotel=6, dim=32, seed=0):
    """Hotels apart along dims 0-15; inside a hotel, photos differ strongly along 16-31."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((n_hotels, dim))
    centres[:, :16] = rng.normal(size=(n_hotels, 16))
    labels = np.repeat(np.arange(n_hotels), per_hotel)
    vectors = centres[labels] + 0.1 * rng.normal(size=(len(labels), dim))
    vectors[:, 16:] += 3 * rng.normal(size=(len(labels), 16))
    return vectors.astype(np.float32), list(labels)


def top1(vectors, labels):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.mean(np.asarray(labels)[similarity.argmax(axis=1)] == labels)


def test_whitening_learned_on_some_hotels_helps_on_others():
    train, train_labels = hotels(seed=0)
    test, test_labels = hotels(seed=1)
    learned = whitening.fit(train, train_labels, shrinkage=0.05)
    assert top1(test, test_labels) < 0.5  # the within-hotel noise dominates raw cosine
    assert top1(learned.apply(test), test_labels) > 0.9


def test_the_map_is_unit_length_and_round_trips():
    vectors, labels = hotels()
    learned = whitening.fit(vectors, labels, dim=8)
    mapped = learned.apply(vectors)
    assert mapped.shape == (len(vectors), 8) and mapped.dtype == np.float32
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1, atol=1e-5)
    again = whitening.Whitening.from_bytes(learned.to_bytes())
    assert again.sha256 == learned.sha256
    assert np.array_equal(again.apply(vectors), mapped)


def test_labels_without_two_photos_cannot_fit():
    with pytest.raises(ValueError, match="two photos"):
        whitening.fit(np.eye(4, dtype=np.float32), [0, 1, 2, 3])
