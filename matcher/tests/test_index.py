"""The exact in-process vector index: what it returns, and how it follows the DB."""

import numpy as np
import pytest
from django.test import override_settings

from matcher import index as index_module
from matcher.index import ExactIndex, get_index, searchable_images, top_k
from matcher.tests.embedding_factories import (
    add_embedding,
    make_room_image,
    set_active,
    unit_vector,
)
from rooms.models import RoomImage

pytestmark = pytest.mark.django_db
V1 = "test-backbone:aaaa:gem3-448:d8"
V2 = "test-backbone:bbbb:gem3-448:d4"


@pytest.fixture
def embedded(hotel):
    """make(seed, version=V1, **fields): an embedded image whose vector is unit_vector(seed)."""

    def make(seed, version=V1, **fields):
        image = make_room_image(hotel, status=RoomImage.Status.EMBEDDED, **fields)
        add_embedding(image, version, unit_vector(seed, dim=8 if version == V1 else 4))
        return image

    set_active(V1)
    return make


def ids(results):
    return [image_id for image_id, _ in results]


def test_returns_best_first_with_cosine_scores(embedded):
    images = [embedded(seed) for seed in range(5)]
    query = unit_vector(3)

    results = ExactIndex().search(query, k=5)

    assert ids(results)[0] == images[3].id
    expected = {image.id: float(unit_vector(s) @ query) for s, image in enumerate(images)}
    assert [score for _, score in results] == pytest.approx(
        sorted(expected.values(), reverse=True), abs=1e-6
    )
    assert [score for _, score in results] == sorted((s for _, s in results), reverse=True)
    assert results[0][1] == pytest.approx(1.0, abs=1e-6)


def test_k_limits_the_results(embedded):
    for seed in range(6):
        embedded(seed)

    assert len(ExactIndex().search(unit_vector(0), k=4)) == 4
    assert ExactIndex().search(unit_vector(0), k=0) == []


def test_nothing_active_means_no_results(embedded):
    embedded(1)
    set_active("")

    assert ExactIndex().search(unit_vector(1), k=5) == []


def test_new_image_appears_without_a_rebuild(embedded):
    index = ExactIndex()
    first = embedded(1)
    assert ids(index.search(unit_vector(1), k=5)) == [first.id]
    loaded = index.matrix

    second = embedded(2)

    assert ids(index.search(unit_vector(2), k=5)) == [second.id, first.id]
    # The old rows were kept: only the new vector was read.
    assert np.array_equal(index.matrix[:1], loaded)


def test_hidden_image_disappears(embedded):
    index = ExactIndex()
    kept, hidden = embedded(1), embedded(2)
    assert set(ids(index.search(unit_vector(2), k=5))) == {kept.id, hidden.id}

    RoomImage.objects.filter(id=hidden.id).update(status=RoomImage.Status.HIDDEN)

    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]


def test_flagged_image_disappears(embedded):
    index = ExactIndex()
    kept, flagged = embedded(1), embedded(2)
    index.search(unit_vector(2), k=5)

    RoomImage.objects.filter(id=flagged.id).update(flagged_reason="a person may be visible")

    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]


def test_deleted_image_disappears(embedded):
    index = ExactIndex()
    kept, deleted = embedded(1), embedded(2)
    index.search(unit_vector(2), k=5)

    deleted.submission.delete()

    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]


def test_filter_restricts_and_still_fills_k(embedded):
    images = [embedded(seed) for seed in range(10)]
    query = unit_vector(0)
    # The three worst matches: a post-filter on a global top-3 would return nothing.
    ranked = ids(ExactIndex().search(query, k=10))
    allowed = ranked[-3:]

    results = ExactIndex().search(query, k=3, image_ids=np.array(allowed))

    assert ids(results) == allowed
    assert {image.id for image in images} >= set(allowed)


def test_filter_with_fewer_matches_than_k(embedded):
    images = [embedded(seed) for seed in range(4)]

    results = ExactIndex().search(unit_vector(0), k=3, image_ids=np.array([images[2].id]))

    assert ids(results) == [images[2].id]
    assert ExactIndex().search(unit_vector(0), k=3, image_ids=np.array([], dtype=int)) == []


def test_versions_never_mix(embedded, hotel):
    old = embedded(1, version=V1)
    new = embedded(2, version=V2)
    both = make_room_image(hotel, status=RoomImage.Status.EMBEDDED)
    add_embedding(both, V1, unit_vector(3))
    add_embedding(both, V2, unit_vector(4, dim=4))
    index = ExactIndex()

    assert set(ids(index.search(unit_vector(1), k=10))) == {old.id, both.id}
    with pytest.raises(ValueError, match="dims"):
        index.search(unit_vector(1, dim=4), k=10)

    set_active(V2)

    results = index.search(unit_vector(4, dim=4), k=10)
    assert ids(results) == [both.id, new.id]
    assert results[0][1] == pytest.approx(1.0, abs=1e-6)
    assert index.matrix.shape == (2, 4)


def test_searchable_images(embedded, hotel):
    searchable = embedded(1)
    embedded(2, flagged_reason="a person may be visible")
    embedded(3, version=V2)
    hidden = embedded(4)
    RoomImage.objects.filter(id=hidden.id).update(status=RoomImage.Status.HIDDEN)
    make_room_image(hotel)  # pending, no vector

    assert list(searchable_images()) == [searchable]


def test_top_k_breaks_ties_by_id():
    scores = np.array([0.5, 0.9, 0.5, -np.inf, 0.1], dtype=np.float32)
    image_ids = np.array([30, 10, 20, 40, 50])

    assert top_k(image_ids, scores, 3) == [(10, pytest.approx(0.9)), (20, 0.5), (30, 0.5)]
    assert [i for i, _ in top_k(image_ids, scores, 10)] == [10, 20, 30, 50]


def test_get_index_is_one_configured_instance():
    index_module.reset_index()
    try:
        assert isinstance(get_index(), ExactIndex)
        assert get_index() is get_index()
        index_module.reset_index()
        with override_settings(MATCHER_INDEX_BACKEND="matcher.tests.test_index.StubIndex"):
            assert isinstance(get_index(), StubIndex)
    finally:
        index_module.reset_index()


class StubIndex:
    def search(self, query, k, image_ids=None):
        return []
