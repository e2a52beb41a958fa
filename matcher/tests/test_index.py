"""The vector indexes: what they return, and how they follow the DB.

Backend-neutral tests take `make_index` and run against every backend the test
database offers: the exact index and the in-process graph always, pgvector too under
`scripts/pytest-pgvector`.
"""

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings

from matcher import indexes as index_module
from matcher.indexes import get_index, live_rows, searchable_images, top_k
from matcher.indexes.exact import ExactIndex
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
ON_POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]


BACKENDS = ["exact", "graph", "shared"]


@pytest.fixture(params=[*BACKENDS, "pgvector"] if ON_POSTGRES else BACKENDS)
def make_index(request, db, settings, tmp_path):
    """A fresh index of each backend (a callable: tests build several)."""
    if request.param == "exact":
        return ExactIndex
    if request.param == "shared":
        from matcher.indexes.shared import SharedIndex

        settings.MATCHER_GRAPH_DIR = tmp_path / "graphs"
        return lambda: SharedIndex(shortlist=2)  # a snapshot built on the first search
    if request.param == "graph":
        from matcher.indexes.graph import GraphIndex

        return lambda: GraphIndex(shortlist=2)  # walks the graph from 2 images up
    from matcher.indexes.pgvector import PgvectorIndex
    from matcher.indexes.sql import pgvector_available

    if not pgvector_available():
        pytest.fail("PostgreSQL without the pgvector column: is migration matcher.0002 applied?")
    return PgvectorIndex


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


def test_returns_best_first_with_cosine_scores(embedded, make_index):
    images = [embedded(seed) for seed in range(5)]
    query = unit_vector(3)

    results = make_index().search(query, k=5)

    assert ids(results)[0] == images[3].id
    expected = {image.id: float(unit_vector(s) @ query) for s, image in enumerate(images)}
    assert [score for _, score in results] == pytest.approx(
        sorted(expected.values(), reverse=True), abs=1e-6
    )
    assert [score for _, score in results] == sorted((s for _, s in results), reverse=True)
    assert results[0][1] == pytest.approx(1.0, abs=1e-6)


def test_k_limits_the_results(embedded, make_index):
    for seed in range(6):
        embedded(seed)

    assert len(make_index().search(unit_vector(0), k=4)) == 4
    assert make_index().search(unit_vector(0), k=0) == []


def test_nothing_active_means_no_results(embedded, make_index):
    embedded(1)
    set_active("")

    assert make_index().search(unit_vector(1), k=5) == []


def test_new_image_appears_without_a_rebuild(embedded, make_index):
    index = make_index()
    first = embedded(1)
    assert ids(index.search(unit_vector(1), k=5)) == [first.id]
    loaded = getattr(index, "matrix", None)

    second = embedded(2)

    assert ids(index.search(unit_vector(2), k=5)) == [second.id, first.id]
    if isinstance(index, ExactIndex):  # the old rows were kept: only the new vector was read
        assert np.array_equal(index.matrix[:1], loaded)


def test_hidden_image_disappears(embedded, make_index):
    index = make_index()
    kept, hidden = embedded(1), embedded(2)
    assert set(ids(index.search(unit_vector(2), k=5))) == {kept.id, hidden.id}

    RoomImage.objects.filter(id=hidden.id).update(status=RoomImage.Status.HIDDEN)

    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]


def test_flagged_image_disappears(embedded, make_index):
    index = make_index()
    kept, flagged = embedded(1), embedded(2)
    index.search(unit_vector(2), k=5)

    RoomImage.objects.filter(id=flagged.id).update(flagged_reason="a person may be visible")

    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]


def test_deleted_image_disappears(embedded, make_index):
    index = make_index()
    kept, deleted = embedded(1), embedded(2)
    index.search(unit_vector(2), k=5)

    deleted.submission.delete()

    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]


def test_filter_restricts_and_still_fills_k(embedded, make_index):
    images = [embedded(seed) for seed in range(10)]
    query = unit_vector(0)
    # The three worst matches: a post-filter on a global top-3 would return nothing.
    ranked = ids(make_index().search(query, k=10))
    allowed = ranked[-3:]

    results = make_index().search(query, k=3, image_ids=np.array(allowed))

    assert ids(results) == allowed
    assert {image.id for image in images} >= set(allowed)


def test_filter_with_fewer_matches_than_k(embedded, make_index):
    images = [embedded(seed) for seed in range(4)]

    results = make_index().search(unit_vector(0), k=3, image_ids=np.array([images[2].id]))

    assert ids(results) == [images[2].id]
    assert make_index().search(unit_vector(0), k=3, image_ids=np.array([], dtype=int)) == []


def test_versions_never_mix(embedded, hotel, make_index):
    old = embedded(1, version=V1)
    new = embedded(2, version=V2)
    both = make_room_image(hotel, status=RoomImage.Status.EMBEDDED)
    add_embedding(both, V1, unit_vector(3))
    add_embedding(both, V2, unit_vector(4, dim=4))
    index = make_index()

    assert set(ids(index.search(unit_vector(1), k=10))) == {old.id, both.id}
    with pytest.raises(ValueError, match="dims"):
        index.search(unit_vector(1, dim=4), k=10)

    set_active(V2)

    results = index.search(unit_vector(4, dim=4), k=10)
    assert ids(results) == [both.id, new.id]
    assert results[0][1] == pytest.approx(1.0, abs=1e-6)
    if isinstance(index, ExactIndex):
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
    from matcher.indexes.pgvector import PgvectorIndex
    from matcher.indexes.sql import pgvector_available

    index_module.reset_index()
    try:
        assert isinstance(get_index(), PgvectorIndex if pgvector_available() else ExactIndex)
        assert get_index() is get_index()
        index_module.reset_index()
        with override_settings(MATCHER_INDEX_BACKEND="matcher.tests.test_index.StubIndex"):
            assert isinstance(get_index(), StubIndex)
    finally:
        index_module.reset_index()


class StubIndex:
    def search(self, query, k, image_ids=None):
        return []


# --- the exact index's incremental sync ---


def test_searches_after_the_first_only_read_what_changed(embedded, monkeypatch):
    index = ExactIndex()
    first = embedded(1)
    index.search(unit_vector(1), k=5)
    monkeypatch.setattr(index, "reconcile", lambda: pytest.fail("full pass before its time"))

    second = embedded(2)

    assert ids(index.search(unit_vector(2), k=5)) == [second.id, first.id]


def test_gone_rows_leave_the_matrix(embedded):
    index = ExactIndex()
    kept, deleted = embedded(1), embedded(2)
    index.search(unit_vector(2), k=5)

    deleted.submission.delete()

    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]
    assert list(index.image_ids) == [kept.id]


def test_flag_cleared_without_a_status_change_shows_at_the_next_full_pass(embedded, monkeypatch):
    index = ExactIndex()
    kept = embedded(1)
    flagged = embedded(2, flagged_reason="a person may be visible")
    index.search(unit_vector(2), k=5)

    RoomImage.objects.filter(id=flagged.id).update(flagged_reason="")
    assert ids(index.search(unit_vector(2), k=5)) == [kept.id]  # not seen yet

    monkeypatch.setattr(live_rows, "RECONCILE_SECONDS", 0)
    assert ids(index.search(unit_vector(2), k=5)) == [flagged.id, kept.id]


def test_a_recreated_vector_replaces_the_old_row(embedded):
    index = ExactIndex()
    image = embedded(1)
    index.search(unit_vector(1), k=5)

    image.embeddings.all().delete()
    add_embedding(image, V1, unit_vector(2))

    results = index.search(unit_vector(2), k=5)
    assert ids(results) == [image.id]
    assert results[0][1] == pytest.approx(1.0, abs=1e-6)
    assert len(index.image_ids) == 1


def test_a_full_pass_lists_the_pairs_only_when_their_sums_changed(embedded, monkeypatch):
    index = ExactIndex()
    kept, flagged, hidden = embedded(1), embedded(2, flagged_reason="a person"), embedded(3)
    index.search(unit_vector(1), k=5)
    listed = []
    real_pairs = index._pairs
    monkeypatch.setattr(index, "_pairs", lambda rows: listed.append(1) or real_pairs(rows))

    index.reconcile()
    assert listed == []  # nothing changed: the sums matched

    # Out-of-band: one row back, another gone, as many searchable rows as before.
    RoomImage.objects.filter(id=flagged.id).update(flagged_reason="")
    RoomImage.objects.filter(id=hidden.id).update(status=RoomImage.Status.HIDDEN)
    index.reconcile()

    assert listed == [1]
    assert sorted(index.image_ids) == sorted([kept.id, flagged.id])
