"""PCA projections for the pgvector graph at scale (matcher.indexes.projection).

The fitting and writing tests run on every engine; the search tests need PostgreSQL
with pgvector (`scripts/pytest-pgvector`).
"""

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from matcher.embedding import EMBEDDED, EMBEDDING, store_embedding
from matcher.indexes import pgvector as pgvector_index
from matcher.indexes import projection, sql
from matcher.indexes.exact import ExactIndex
from matcher.indexes.pgvector import PgvectorIndex, hnsw_index_exists
from matcher.models import Embedding, Projection
from matcher.search import image_owners
from matcher.tests.conftest import DIM, VERSION
from matcher.tests.embedding_factories import add_embedding, make_room_image, set_active
from matcher.tests.test_pgvector import gallery, recall
from retrieval import pca
from rooms.models import Hotel, RoomImage

RANK = 6


def low_rank(n, rank=RANK, dim=DIM, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, dim))


def test_fit_finds_the_subspace_with_orthonormal_components():
    components, kept = pca.fit(low_rank(500), RANK)

    assert components.shape == (DIM, RANK)
    assert np.allclose(components.T @ components, np.eye(RANK), atol=1e-5)
    assert kept == pytest.approx(1.0, abs=1e-6)  # the data has exactly RANK directions
    _, kept_half = pca.fit(low_rank(500), RANK // 2)
    assert 0.2 < kept_half < 0.95


def test_projection_keeps_dot_products_of_low_rank_vectors():
    vectors = low_rank(200)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    components, _ = pca.fit(vectors, RANK)
    reduced = pca.project(vectors, components)

    assert np.allclose(np.linalg.norm(reduced, axis=1), 1, atol=1e-5)
    assert np.allclose(reduced @ reduced.T, vectors @ vectors.T, atol=1e-4)


def test_key_names_the_matrix():
    first, _ = pca.fit(low_rank(300), RANK)
    other, _ = pca.fit(low_rank(300, seed=1), RANK)

    assert projection.projection_key(VERSION, first) == projection.projection_key(VERSION, first)
    assert projection.projection_key(VERSION, first) != projection.projection_key(VERSION, other)
    assert projection.projection_key(VERSION, first).startswith(f"{VERSION}|pca{RANK}:")


@pytest.mark.parametrize("dim", [0, DIM])
def test_fit_refuses_a_dimension_it_cannot_learn(dim):
    with pytest.raises(ValueError, match="dim"):
        pca.fit(low_rank(100), dim)


# --- writing the projected vectors (any engine) ---


@pytest.mark.django_db
def test_new_vectors_get_their_projection_in_the_same_write(hotel):
    reduced = projection.create(VERSION, RANK, low_rank(100))
    image = make_room_image(hotel, status=EMBEDDING)
    vector = low_rank(1, seed=5)[0].astype(np.float32)

    assert store_embedding(image.pk, VERSION, vector, expect=EMBEDDING)

    row = Embedding.objects.get(image=image, model_version=reduced.key)
    expected = pca.project(vector[None, :], reduced.matrix())[0]
    assert row.dim == RANK
    assert np.allclose(row.as_array(), expected, atol=1e-6)


@pytest.mark.django_db
def test_backfill_projects_what_is_missing_once_and_completes(hotel):
    images = [make_room_image(hotel, status=EMBEDDED) for _ in range(5)]
    for n, image in enumerate(images):
        add_embedding(image, VERSION, low_rank(1, seed=n)[0])
    reduced = projection.create(VERSION, RANK, low_rank(100))
    assert not reduced.complete

    assert projection.backfill(reduced) == 5
    assert projection.backfill(reduced) == 0  # resumable: nothing twice

    reduced.refresh_from_db()
    assert reduced.complete
    assert Embedding.objects.filter(model_version=reduced.key).count() == 5
    for image in images:
        full = Embedding.objects.get(image=image, model_version=VERSION).as_array()
        row = Embedding.objects.get(image=image, model_version=reduced.key)
        assert np.allclose(row.as_array(), pca.project(full[None], reduced.matrix())[0], atol=1e-6)


@pytest.mark.django_db
def test_reduce_needs_pgvector_or_a_smaller_dimension(hotel, settings):
    add_embedding(make_room_image(hotel, status=EMBEDDED), VERSION, low_rank(1)[0])
    set_active(VERSION)
    if not sql.pgvector_available():
        with pytest.raises(CommandError, match="pgvector"):
            call_command("pgvector_index", "--reduce", "8")
        return
    with pytest.raises(CommandError, match="--reduce must be between 1 and 31"):
        call_command("pgvector_index", "--reduce", str(DIM))
    assert not Projection.objects.exists()


@pytest.mark.django_db
def test_serving_names_the_active_version_and_its_newest_complete_projection():
    set_active(VERSION)
    assert projection.serving() == (VERSION, None)

    projection.create(VERSION, RANK, low_rank(100))  # older
    newer = projection.create(VERSION, RANK - 1, low_rank(100, seed=1))
    projection.create("another-model", RANK, low_rank(100, seed=2))
    Projection.objects.update(complete=True)
    projection.create(VERSION, RANK - 2, low_rank(100, seed=3))  # newer, incomplete

    version, reduction = projection.serving()
    assert (version, reduction.key) == (VERSION, newer.key)

    set_active("another-model")
    assert projection.serving()[0] == "another-model"
    set_active("a-model-with-no-projection")
    assert projection.serving() == ("a-model-with-no-projection", None)


# --- searching through the projection's graph (PostgreSQL + pgvector) ---


def reduce_gallery(capsys):
    call_command("pgvector_index", "--reduce", str(RANK))
    reduced = Projection.objects.get()
    assert reduced.complete
    assert hnsw_index_exists(reduced.key, RANK)
    assert "keeps" in capsys.readouterr().out
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            [pgvector_index.hnsw_index_name(reduced.key, RANK)],
        )
        assert "m='32'" in cursor.fetchone()[0]  # the denser graph for projections
    return reduced


def gallery_queries(count, seed=9):
    """New photos of gallery hotels: a stored vector plus fresh scatter."""
    rng = np.random.default_rng(seed)
    rows = Embedding.objects.filter(model_version=VERSION).order_by("?")[:count]
    vectors = np.stack([row.as_array() for row in rows]) + 0.05 * rng.normal(size=(count, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_search_through_the_projection_is_exact_on_its_shortlist(pgvector, capsys, monkeypatch):
    gallery(rank=RANK)
    reduce_gallery(capsys)
    used = []
    real_sql = pgvector_index.shortlist_sql
    monkeypatch.setattr(
        pgvector_index, "shortlist_sql", lambda *a: used.append(a[1].key) or real_sql(*a)
    )
    pg, exact = PgvectorIndex(shortlist=200), ExactIndex()  # a tenth of this gallery
    recalls = []
    for query in gallery_queries(10):
        found, truth = pg.search(query, 100), exact.search(query, 100)
        assert len(found) == 100
        expected = dict(truth)
        for image_id, score in found:  # similarities of the full float32 vectors
            if image_id in expected:
                assert score == pytest.approx(expected[image_id], abs=1e-5)
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        assert found.owners == image_owners(image_id for image_id, _ in found)
        recalls.append(recall(found, truth))
    assert len(used) == 10
    assert np.mean(recalls) >= 0.95
    assert not hnsw_index_exists(VERSION, DIM)  # the full-dimension graph is not needed


def test_projection_search_sees_new_and_hidden_images_at_once(pgvector, capsys, hotel):
    gallery(rank=RANK)
    reduce_gallery(capsys)
    query = gallery_queries(1)[0]
    best = PgvectorIndex().search(query, 1)[0][0]

    RoomImage.objects.filter(pk=best).update(status=RoomImage.Status.HIDDEN)
    assert best not in {i for i, _ in PgvectorIndex().search(query, 50)}

    image = make_room_image(hotel, status=EMBEDDING)
    assert store_embedding(image.pk, VERSION, query, expect=EMBEDDING)  # the query itself
    assert PgvectorIndex().search(query, 1) == [(image.pk, pytest.approx(1.0, abs=1e-5))]


def test_broad_filter_fills_k_through_the_projection(pgvector, capsys, monkeypatch):
    gallery(rank=RANK)
    reduce_gallery(capsys)
    monkeypatch.setattr(pgvector_index, "EXACT_BELOW", 10)  # force the graph path
    france = Hotel.objects.filter(country_code="FR")
    french = set(
        RoomImage.objects.filter(submission__hotel__in=france).values_list("pk", flat=True)
    )
    pg, exact = PgvectorIndex(), ExactIndex()
    for query in gallery_queries(5):
        found = pg.search(query, 100, hotels=france)
        assert len(found) == 100
        assert {i for i, _ in found} <= french
        assert recall(found, exact.search(query, 100, hotels=france)) >= 0.9


def test_incomplete_projection_is_not_used(pgvector, capsys):
    gallery(rank=RANK)
    reduced = reduce_gallery(capsys)
    Projection.objects.filter(pk=reduced.pk).update(complete=False)

    assert PgvectorIndex().reduction(VERSION) is None


def test_shortlist_setting_sets_the_graph_candidates(pgvector, capsys, monkeypatch, settings):
    gallery(rank=RANK)
    reduce_gallery(capsys)
    settings.MATCHER_PGVECTOR_SHORTLIST = 120
    scans = []
    real_scan = PgvectorIndex.configure_scan
    monkeypatch.setattr(
        PgvectorIndex,
        "configure_scan",
        lambda self, c, ef, **kw: scans.append(ef) or real_scan(self, c, ef, **kw),
    )
    pg, query = PgvectorIndex(), gallery_queries(1)[0]

    assert len(pg.search(query, 50)) == 50
    assert len(pg.search(query, 200)) == 200  # beyond the setting: k and half again
    assert scans == [120, 300]
