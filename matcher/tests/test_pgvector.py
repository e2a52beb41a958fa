"""The pgvector backend: its column, trigger and HNSW index, and recall against the exact index.

Run on PostgreSQL by `scripts/pytest-pgvector` (TC_TEST_DB=pgvector: a missing pgvector
fails there). Under the default SQLite settings only the backend selection runs.
"""

import importlib
import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from matcher import search
from matcher.indexes import get_index, reset_index
from matcher.indexes import pgvector as pgvector_index
from matcher.indexes.exact import ExactIndex
from matcher.indexes.pgvector import (
    PgvectorIndex,
    ensure_hnsw_index,
    hnsw_index_name,
)
from matcher.models import Embedding
from matcher.tests.conftest import DIM, VERSION
from matcher.tests.embedding_factories import add_embedding, make_room_image
from rooms.models import Chain, Hotel, RoomImage, Submission

pytestmark = pytest.mark.django_db
COUNTRIES = ["US", "FR", "JP", "BR"]


def test_backend_follows_the_database():
    reset_index()
    try:
        expected = PgvectorIndex if connection.vendor == "postgresql" else ExactIndex
        assert type(get_index()) is expected
    finally:
        reset_index()


def stored_embedding(embedding_id) -> np.ndarray:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT embedding::text FROM matcher_embedding WHERE id = %s", [embedding_id]
        )
        text = cursor.fetchone()[0]
    return np.array(text.strip("[]").split(","), dtype=np.float32)


def test_trigger_mirrors_the_float32_bytes_exactly(pgvector, hotel):
    vector = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    vector[:4] = [0.0, -0.0, 1e-40, -3.5]  # zero, negative zero, a subnormal, a negative
    row = add_embedding(make_room_image(hotel, status=RoomImage.Status.EMBEDDED), VERSION, vector)

    assert np.array_equal(stored_embedding(row.pk), vector)

    replaced = np.ones(DIM, dtype=np.float32)
    Embedding.objects.filter(pk=row.pk).update(vector=replaced.astype("<f4").tobytes())
    assert np.array_equal(stored_embedding(row.pk), replaced)


def awkward_float32s(n=20_000) -> np.ndarray:
    """Random bit patterns (every exponent, subnormals) plus the edge cases."""
    bits = np.random.default_rng(3).integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]
    edges = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38, 0.1, 1 / 3]
    return np.concatenate([np.array(edges, dtype=np.float32), values])


@pytest.mark.django_db(databases=[])
def test_vector_literal_identifies_every_float32():
    values = awkward_float32s()
    parsed = np.array(pgvector_index.vector_literal(values)[1:-1].split(","), dtype=np.float32)
    assert np.array_equal(parsed.view(np.uint32), values.view(np.uint32))


def test_postgresql_reads_the_literal_exactly(pgvector):
    values = awkward_float32s(2_000)[:2_000]  # pgvector's limit: 16 000 dims
    with connection.cursor() as cursor:
        cursor.execute("SELECT (%s::vector)::real[]", [pgvector_index.vector_literal(values)])
        stored = np.array(cursor.fetchone()[0], dtype=np.float32)
    assert np.array_equal(stored.view(np.uint32), values.view(np.uint32))


def toast_chunks(embedding_id) -> tuple:
    """(embedding, vector) TOAST chunk ids of a row: NULL when the value is in the row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_toast_chunk_id(embedding), pg_column_toast_chunk_id(vector) "
            "FROM matcher_embedding WHERE id = %s",
            [embedding_id],
        )
        return cursor.fetchone()


def full_size_row(hotel, seed) -> tuple[Embedding, np.ndarray]:
    """A 1280-dim vector (the model's): 5 KB, which PostgreSQL moves out by default."""
    vector = np.random.default_rng(seed).normal(size=1280).astype(np.float32)
    image = make_room_image(hotel, status=RoomImage.Status.EMBEDDED)
    return add_embedding(image, "inline-test", vector), vector


@pytest.fixture
def pg17(pgvector):
    if connection.pg_version < 170000:
        pytest.skip("pg_column_toast_chunk_id needs PostgreSQL 17")


def test_full_size_vectors_stay_in_the_row(pg17, hotel):
    row, vector = full_size_row(hotel, seed=1)
    embedding_chunk, bytes_chunk = toast_chunks(row.pk)
    assert bytes_chunk is not None  # the row is big enough to be toasted...
    assert embedding_chunk is None  # ...but the searched copy stays inline
    assert np.array_equal(stored_embedding(row.pk), vector)


def test_vectors_written_before_0005_move_into_their_rows(pg17, hotel):
    migration = importlib.import_module("matcher.migrations.0005_inline_pgvector")
    with connection.schema_editor() as editor:
        migration.backwards(None, editor)
    row, vector = full_size_row(hotel, seed=2)
    assert toast_chunks(row.pk)[0] is not None  # written out of line, as before 0005
    with connection.cursor() as cursor:  # the test's inserts: their FK checks fire before DDL
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with connection.schema_editor() as editor:
        migration.forwards(None, editor)
    assert toast_chunks(row.pk)[0] is not None  # the migration alone rewrites nothing

    moved = []
    assert pgvector_index.move_inline("inline-test", batch=1, progress=moved.append) == 1
    assert toast_chunks(row.pk)[0] is None
    assert np.array_equal(stored_embedding(row.pk), vector)  # same bits after the rewrite
    assert moved == [1]
    assert pgvector_index.move_inline("inline-test") == 0  # a re-run writes nothing


def test_pgvector_index_inline_reports_what_it_moved(pg17, hotel):
    full_size_row(hotel, seed=4)  # written inline already: nothing to move
    out = io.StringIO()
    call_command("pgvector_index", "--inline", "--model-version", "inline-test", stdout=out)
    assert "moved 0 vectors into their rows" in out.getvalue()
    assert not pgvector_index.hnsw_index_exists("inline-test", 1280)  # it builds nothing


# --- a gallery shaped like the real one: hotels of 20 photos around a centroid ---


def gallery(n_hotels=100, per_hotel=20, seed=0, rank=None):
    """Hotels (country by index, chain every 3rd) with photos near the hotel's centroid.

    `rank`: centroids in a random `rank`-dim subspace and little scatter (what PCA is for).
    """
    rng = np.random.default_rng(seed)
    chain = Chain.objects.create(name="Gallery chain")
    hotels = Hotel.objects.bulk_create(
        Hotel(
            name=f"Gallery {h}",
            chain=chain if h % 3 == 0 else None,
            city=f"City {h % 10}",
            country_code=COUNTRIES[h % len(COUNTRIES)],
            latitude=h / 10,
            longitude=h / 10,
            external_ref=f"G-{h}",
        )
        for h in range(n_hotels)
    )
    submissions = Submission.objects.bulk_create(
        Submission(hotel=hotel, room_number="1") for hotel in hotels
    )
    images = RoomImage.objects.bulk_create(
        RoomImage(
            submission=submissions[n // per_hotel],
            file=f"rooms/g/{n}.jpg",
            width=64,
            height=48,
            sha256=f"{n:064d}",
            phash="0" * 16,
            status=RoomImage.Status.EMBEDDED,
        )
        for n in range(n_hotels * per_hotel)
    )
    if rank is None:
        centroids, scatter = rng.normal(size=(n_hotels, DIM)), 1.0
    else:
        centroids, scatter = rng.normal(size=(n_hotels, rank)) @ rng.normal(size=(rank, DIM)), 0.2
    vectors = np.repeat(centroids, per_hotel, axis=0)
    vectors += scatter * rng.normal(size=(len(images), DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("<f4")
    Embedding.objects.bulk_create(
        Embedding(image=image, model_version=VERSION, dim=DIM, vector=vector.tobytes())
        for image, vector in zip(images, vectors, strict=True)
    )
    return hotels, rng


def queries(rng, count=10):
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def recall(found, truth) -> float:
    return len({i for i, _ in found} & {i for i, _ in truth}) / len(truth)


def test_hnsw_recall_against_the_exact_index(pgvector):
    _, rng = gallery()
    pg, exact = PgvectorIndex(), ExactIndex()
    recalls = []
    for query in queries(rng):
        truth, found = exact.search(query, 100), pg.search(query, 100)
        assert len(found) == 100
        # Scores are recomputed on float32: equal to the exact ones, best first.
        expected = dict(truth)
        for image_id, score in found:
            if image_id in expected:
                assert score == pytest.approx(expected[image_id], abs=1e-5)
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        recalls.append(recall(found, truth))
    assert np.mean(recalls) >= 0.95
    assert pgvector_index.hnsw_index_exists(VERSION, DIM)  # built on first search (small)


def test_the_index_serves_the_query(pgvector):
    gallery(n_hotels=10)
    ensure_hnsw_index(VERSION, DIM)
    sql, params = pgvector_index.nearest_sql(
        pgvector_index.vector_literal(np.ones(DIM, dtype=np.float32)),
        DIM,
        VERSION,
        "",
        [],
        10,
        True,
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny table: force the choice
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert hnsw_index_name(VERSION, DIM) in plan


def test_broad_filter_uses_the_iterative_scan_and_fills_k(pgvector, monkeypatch):
    hotels, rng = gallery()
    monkeypatch.setattr(pgvector_index, "EXACT_BELOW", 10)  # force the HNSW path
    france = Hotel.objects.filter(country_code="FR")
    french_images = set(
        RoomImage.objects.filter(submission__hotel__in=france).values_list("pk", flat=True)
    )
    pg, exact = PgvectorIndex(), ExactIndex()
    for query in queries(rng, 5):
        found = pg.search(query, 100, hotels=france)
        assert len(found) == 100  # a post-filter on a global top-100 would give ~25
        assert {image_id for image_id, _ in found} <= french_images
        assert recall(found, exact.search(query, 100, hotels=france)) >= 0.9


def test_selective_filter_is_exact(pgvector):
    _, rng = gallery()
    city = Hotel.objects.filter(city="City 4", country_code="US")  # 5 hotels, 100 photos
    pg, exact = PgvectorIndex(), ExactIndex()
    for query in queries(rng, 3):
        found = pg.search(query, 50, hotels=city)
        truth = exact.search(query, 50, hotels=city)
        assert len(found) == 50
        assert [i for i, _ in found] == [i for i, _ in truth]
        assert [s for _, s in found] == pytest.approx([s for _, s in truth], abs=1e-5)


def test_large_version_without_index_is_searched_exactly(pgvector, monkeypatch, caplog):
    _, rng = gallery(n_hotels=10)
    monkeypatch.setattr(pgvector_index, "AUTO_BUILD_ROWS", 5)
    query = queries(rng, 1)[0]

    found = PgvectorIndex().search(query, 30)

    assert not pgvector_index.hnsw_index_exists(VERSION, DIM)
    assert "no HNSW index" in caplog.text
    assert [i for i, _ in found] == [i for i, _ in ExactIndex().search(query, 30)]


def test_wrong_dimension_is_refused(pgvector):
    gallery(n_hotels=2)
    with pytest.raises(ValueError, match="dims"):
        PgvectorIndex().search(np.ones(DIM + 1, dtype=np.float32), 5)


@pytest.mark.parametrize("filtered", [False, True])
def test_neighbours_carry_their_hotel_and_chain(pgvector, filtered):
    hotels, rng = gallery(n_hotels=20)
    restriction = {"hotels": Hotel.objects.filter(country_code="FR")} if filtered else {}
    found = PgvectorIndex().search(queries(rng, 1)[0], 60, **restriction)

    assert len(found) == 60
    assert found.owners == search.image_owners(image_id for image_id, _ in found)
    assert any(chain_id is not None for _, chain_id in found.owners.values())


def test_hotel_ranking_reads_owners_with_the_vectors(pgvector, monkeypatch):
    _, rng = gallery(n_hotels=20)
    query = queries(rng, 1)[0]
    reset_index()
    expected = search.search_hotels(query, k=5)
    monkeypatch.setattr(search, "image_owners", lambda ids: pytest.fail("owners queried again"))
    try:
        assert search.search_hotels(query, k=5) == expected
        assert search.search_hotels(np.stack([query, -query]), k=5).hotels
    finally:
        reset_index()


def test_filtered_graph_walk_uses_the_index(pgvector):
    hotels, rng = gallery()
    ensure_hnsw_index(VERSION, DIM)
    france = Hotel.objects.filter(country_code="FR")  # a quarter of the gallery
    where, params = pgvector_index.restriction_sql(None, france, graph_walk=True)
    literal = pgvector_index.vector_literal(queries(rng, 1)[0])
    sql, params = pgvector_index.nearest_sql(literal, DIM, VERSION, where, params, 50, True, True)
    with connection.cursor() as cursor:
        PgvectorIndex().configure_scan(cursor, 100, graph_walk=True)
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert hnsw_index_name(VERSION, DIM) in plan
    assert "hashed SubPlan" in plan  # the allowed submissions, probed per candidate


def test_filtered_graph_walk_skips_hidden_images(pgvector, monkeypatch):
    _, rng = gallery()
    monkeypatch.setattr(pgvector_index, "EXACT_BELOW", 10)  # force the graph walk
    france = Hotel.objects.filter(country_code="FR")
    query = queries(rng, 1)[0]
    best = PgvectorIndex().search(query, 10, hotels=france)[0][0]

    RoomImage.objects.filter(pk=best).update(flagged_reason="reported")
    found = PgvectorIndex().search(query, 10, hotels=france)

    assert len(found) == 10
    assert best not in {image_id for image_id, _ in found}
    assert set(found.owners) == {image_id for image_id, _ in found}


def test_bench_index_keeps_the_exact_answers(pgvector, tmp_path, monkeypatch, capsys):
    from django.core.management import call_command

    oracle = tmp_path / "oracle.json"
    args = ["--images", "400", "--queries", "3", "--filters", "none,country"]
    args += ["--backend", "pgvector", "--oracle", str(oracle)]
    call_command("bench_index", *args)
    first = capsys.readouterr().out
    assert len(json.loads(oracle.read_text())) == 6  # 3 queries x 2 filters

    monkeypatch.setattr(ExactIndex, "search", lambda *a, **k: pytest.fail("exact ran again"))
    call_command("bench_index", *args)
    second = capsys.readouterr().out
    recall = [line.split()[-1] for line in first.splitlines() if line.strip().startswith("none")]
    assert recall and recall == [
        line.split()[-1] for line in second.splitlines() if line.strip().startswith("none")
    ]


def show(cursor, name) -> str:
    cursor.execute(f"SHOW {name}")
    return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_scan_settings_hold_for_the_search_transaction_only(pgvector):
    with connection.cursor() as cursor:
        default_ef, default_sort = show(cursor, "hnsw.ef_search"), show(cursor, "enable_sort")
        with transaction.atomic():
            PgvectorIndex().configure_scan(cursor, 4000, graph_walk=True)
            assert show(cursor, "hnsw.ef_search") == str(pgvector_index.EF_SEARCH_MAX)
            assert show(cursor, "hnsw.iterative_scan") == "relaxed_order"
            assert show(cursor, "hnsw.max_scan_tuples") == str(pgvector_index.MAX_SCAN_TUPLES)
            assert show(cursor, "enable_sort") == "off"
        assert (show(cursor, "hnsw.ef_search"), show(cursor, "enable_sort")) == (
            default_ef,
            default_sort,
        )
        with transaction.atomic():
            PgvectorIndex().configure_scan(cursor, 300)
            assert show(cursor, "hnsw.ef_search") == "300"
            assert show(cursor, "enable_sort") == default_sort  # only graph walks turn it off
