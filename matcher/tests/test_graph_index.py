"""The in-process graph backend (matcher.indexes.graph), on every engine.

Under `scripts/pytest-pgvector` the shortlist is re-scored by pgvector's SQL; on
SQLite by NumPy over the stored vectors. Galleries are larger than the shortlist, so
the graph is walked; the backend-neutral tests in test_index.py cover small ones.
"""

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from matcher import indexes as index_module
from matcher.embedding import EMBEDDING, store_embedding
from matcher.indexes import graph as graph_index
from matcher.indexes.exact import ExactIndex
from matcher.indexes.graph import GraphIndex
from matcher.models import Embedding
from matcher.search import image_owners, search_hotels
from matcher.tests.conftest import VERSION
from matcher.tests.embedding_factories import make_room_image
from matcher.tests.test_pgvector import gallery, queries, recall
from matcher.tests.test_projection import RANK, gallery_queries
from rooms.models import RoomImage


def ids(results):
    return [image_id for image_id, _ in results]


def assert_exact_scores(found, truth):
    expected = dict(truth)
    for image_id, score in found:  # similarities of the full float32 vectors
        if image_id in expected:
            assert score == pytest.approx(expected[image_id], abs=1e-5)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_graph_walk_finds_the_exact_top_100(served):
    _, rng = gallery()  # 2000 photos; the shortlist is 150
    graph, exact = GraphIndex(shortlist=150), ExactIndex()
    recalls = []
    for query in queries(rng):
        found, truth = graph.search(query, 100), exact.search(query, 100)
        assert len(found) == 100
        assert_exact_scores(found, truth)
        assert found.owners == image_owners(ids(found))
        recalls.append(recall(found, truth))
    assert np.mean(recalls) >= 0.95
    assert graph.graph.get_current_count() == 2000


def test_new_hidden_and_deleted_images_take_effect_without_a_rebuild(served, hotel):
    gallery()
    index = GraphIndex(shortlist=50)
    query = Embedding.objects.filter(model_version=VERSION).first().as_array()
    best = ids(index.search(query, 1))[0]
    graph = index.graph

    RoomImage.objects.filter(pk=best).update(status=RoomImage.Status.HIDDEN)  # bare update
    found = index.search(query, 20)
    assert best not in ids(found) and len(found) == 20

    image = make_room_image(hotel, status=EMBEDDING)
    assert store_embedding(image.pk, VERSION, query, expect=EMBEDDING)
    assert index.search(query, 1) == [(image.pk, pytest.approx(1.0, abs=1e-5))]

    image.submission.delete()
    assert image.pk not in ids(index.search(query, 20))
    assert index.graph is graph  # followed, not rebuilt


def test_the_built_graph_is_loaded_then_caught_up(served, hotel, graph_dir, monkeypatch, capsys):
    gallery()
    call_command("graph_index")
    assert "built the graph of" in capsys.readouterr().out
    assert len(list(graph_dir.glob("*.npz"))) == 1
    gone = Embedding.objects.filter(model_version=VERSION).first()
    query = gone.as_array()
    RoomImage.objects.filter(pk=gone.image_id).delete()
    image = make_room_image(hotel, status=EMBEDDING)
    assert store_embedding(image.pk, VERSION, query, expect=EMBEDDING)
    monkeypatch.setattr(graph_index, "new_graph", lambda *a: pytest.fail("built, not loaded"))

    index = GraphIndex(shortlist=50)
    found = index.search(query, 10)

    assert ids(found)[0] == image.pk and gone.image_id not in ids(found)
    assert len(index.image_ids) == 2000  # 2000 built, one gone, one new


def test_a_large_gallery_searches_the_database_until_its_graph_is_built(served, monkeypatch):
    _, rng = gallery()
    monkeypatch.setattr(graph_index, "AUTO_BUILD_ROWS", 1000)
    index, query = GraphIndex(shortlist=50), queries(rng, 1)[0]

    assert ids(index.search(query, 10)) == ids(ExactIndex().search(query, 10))
    assert index.graph is None  # answered by the database backend

    call_command("graph_index")
    assert len(index.search(query, 10)) == 10
    assert index.graph is not None and index.graph.get_current_count() == 2000


def test_graph_over_the_projection_rescores_with_the_full_vectors(served, capsys):
    gallery(rank=RANK)
    call_command("graph_index", "--reduce", str(RANK))
    assert "keeps" in capsys.readouterr().out
    graph, exact = GraphIndex(shortlist=200), ExactIndex()
    recalls = []
    for query in gallery_queries(10):
        found, truth = graph.search(query, 100), exact.search(query, 100)
        assert_exact_scores(found, truth)
        recalls.append(recall(found, truth))
    assert np.mean(recalls) >= 0.95
    assert graph.graph.dim == RANK


def test_building_again_replaces_the_graph_whole(served, graph_dir):
    gallery(n_hotels=5)
    call_command("graph_index")
    call_command("graph_index")
    assert len(list(graph_dir.glob("*.hnsw"))) == 1
    assert [path.suffix for path in graph_dir.iterdir()].count(".partial") == 0


def test_the_command_needs_vectors(db, graph_dir):
    with pytest.raises(CommandError, match="no active model version"):
        call_command("graph_index")


def test_hotel_ranking_agrees_with_the_exact_backend(served):
    _, rng = gallery()
    for query in queries(rng, 5):
        rankings = []
        for backend in (index_module.GRAPH_BACKEND, index_module.EXACT_BACKEND):
            with override_settings(MATCHER_INDEX_BACKEND=backend):
                index_module.reset_index()
                outcome = search_hotels(query, k=5)
            rankings.append([hit["hotel"]["id"] for hit in outcome.hotels])
        index_module.reset_index()
        assert len(rankings[0]) == 5
        assert rankings[0] == rankings[1]


def test_bench_index_measures_the_graph(db, graph_dir, capsys):
    args = ["--images", "400", "--queries", "3", "--filters", "none", "--dim", "64"]
    call_command("bench_index", *args, "--reduce", "32", "--backend", "exact,graph")
    out = capsys.readouterr().out
    report = out[out.index("-- graph: ready in") :]
    assert "graph file" in report and "catches up in" in report
    recall = float(
        next(line for line in report.splitlines() if line.strip().startswith("none")).split()[-1]
    )
    assert recall >= 0.95
    assert len(list(graph_dir.glob("*.npz"))) == 1


def test_an_unreadable_graph_file_is_logged_and_the_database_answers(
    served, graph_dir, monkeypatch, caplog
):
    _, rng = gallery()
    call_command("graph_index")
    (graph_path,) = graph_dir.glob("*.hnsw")
    graph_path.unlink()  # e.g. a half-copied volume
    monkeypatch.setattr(graph_index, "AUTO_BUILD_ROWS", 1000)
    loads = []
    real_load = GraphIndex.load
    monkeypatch.setattr(GraphIndex, "load", lambda self, f: loads.append(f) or real_load(self, f))
    index, query = GraphIndex(shortlist=50), queries(rng, 1)[0]

    for _ in range(2):
        assert ids(index.search(query, 10)) == ids(ExactIndex().search(query, 10))
    assert index.graph is None and len(loads) == 1  # not retried until a new file
    assert "cannot load" in caplog.text

    call_command("graph_index")
    assert len(index.search(query, 10)) == 10
    assert index.graph is not None
