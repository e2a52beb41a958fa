"""The shared, memory-mapped snapshot backend (matcher.indexes.shared), in and across processes.

Filtered searches must equal the exact filtered search (the walk only narrows which
rows are compared, every score is the full vector's); processes mapping one snapshot
must all stop returning a photo hidden after the build; a rebuild served while a
process searches must swap in whole, without an error or a mixed answer.
"""

import datetime
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from matcher.indexes import shared as shared_index
from matcher.indexes import snapshot as snapshots
from matcher.indexes.exact import ExactIndex
from matcher.indexes.huge_pages import prefer_huge_pages, smaps
from matcher.indexes.shared import SharedIndex
from matcher.models import Embedding
from matcher.tests.conftest import DIM, VERSION
from matcher.tests.test_pgvector import gallery, queries, recall
from rooms.models import Chain, Hotel, RoomImage
from rooms.selectors import HotelFilters, hotels_filtered
from testsupport import processes as testing

REPO = testing.REPO


def ids(results):
    return [image_id for image_id, _ in results]


def filter_cases(hotels):
    hotel = hotels[7]
    return {
        "country": HotelFilters(country=hotel.country_code),
        "city": HotelFilters(city=hotel.city.upper()),  # case-insensitive, as the form
        "country and city": HotelFilters(country=hotel.country_code, city=hotel.city),
        "chain": HotelFilters(chain=Chain.objects.get()),
        "chain in a country": HotelFilters(country=hotel.country_code, chain=Chain.objects.get()),
        "radius": HotelFilters(near=(hotel.latitude, hotel.longitude), radius_km=60),
        "name": HotelFilters(q="Gallery 1"),
    }


@pytest.mark.parametrize("exact_rows", [20_000, 0], ids=["scan", "walk"])
def test_filtered_results_equal_the_exact_filtered_results(served, monkeypatch, exact_rows):
    hotels, rng = gallery()  # 2000 photos, 100 hotels in 5 countries and 10 cities
    monkeypatch.setattr(shared_index, "EXACT_ROWS", exact_rows)  # 0: every filter walks
    index, exact = SharedIndex(shortlist=300), ExactIndex()
    for name, filters in filter_cases(hotels).items():
        allowed = set(
            RoomImage.objects.filter(submission__hotel__in=hotels_filtered(filters)).values_list(
                "pk", flat=True
            )
        )
        assert 0 < len(allowed) < 2000, name
        for query in queries(rng, 3):
            found = index.search(query, 100, filters=filters)
            truth = exact.search(query, 100, hotels=hotels_filtered(filters))
            assert set(ids(found)) <= allowed, name
            assert len(found) == min(100, len(allowed)), name
            assert recall(found, truth) >= 0.97, name
            for (_, score), (_, expected) in zip(found, truth, strict=False):
                if ids(found) == ids(truth):
                    assert score == pytest.approx(expected, abs=1e-5)


def test_a_snapshot_built_before_codes_still_equals_the_exact_filtered_results(served, monkeypatch):
    # Builds served before the graph stored 8-bit codes hold float vectors: still read.
    hotels, rng = gallery()
    monkeypatch.setattr(snapshots, "quantised", lambda graph: graph)
    index, exact = SharedIndex(shortlist=300), ExactIndex()
    query = queries(rng, 1)[0]
    assert recall(index.search(query, 100), exact.search(query, 100)) >= 0.97
    assert storage(index).code_size == DIM * 4  # floats, as built then
    for exact_rows in (20_000, 0):  # a scan, then a walk
        monkeypatch.setattr(shared_index, "EXACT_ROWS", exact_rows)
        filters = HotelFilters(country=hotels[7].country_code)
        truth = exact.search(query, 100, hotels=hotels_filtered(filters))
        assert recall(index.search(query, 100, filters=filters), truth) >= 0.97


def storage(index):
    import faiss

    return faiss.downcast_index(index.view.snapshot.graph.storage)


def test_the_graphs_codes_keep_its_vectors_inner_products(served):
    _, rng = gallery()
    index = SharedIndex()
    query = queries(rng, 1)
    index.search(query[0], 5)
    view = index.view
    assert storage(index).code_size == DIM  # a byte per dimension
    labels, scores = view.walk(query, 50, None, with_scores=True)
    exact = view.snapshot.vectors[labels] @ query[0]  # no projection at this size
    assert np.abs(scores - exact).max() < 0.01


@pytest.mark.parametrize("runs", [64, 1], ids=["in place", "gathered"])
def test_a_scan_finds_each_querys_nearest_rows_by_the_graphs_codes(served, monkeypatch, runs):
    _, rng = gallery()
    monkeypatch.setattr(snapshots, "SCANNED_RUNS", runs)
    index = SharedIndex()
    turns = queries(rng, 3)  # several queries at once, as a photo's turns
    index.search(turns[0], 5)
    snapshot = index.view.snapshot
    rows = np.r_[900:1200, 100:400]  # two runs, in any order (a radius's hotels)
    found = snapshot.graph_nearest(turns, rows, 50)
    decoded = storage(index).sa_decode(np.ascontiguousarray(snapshot.graph_codes()[rows]))
    products = decoded @ snapshot.graph_query(turns).T
    assert len(found) == 3 * 50
    for q, nearest in enumerate(found.reshape(3, 50)):
        expected = rows[np.argsort(-products[:, q])[:50]]
        assert set(nearest) == set(expected)
    assert len(snapshot.graph_nearest(turns, rows[:0], 50)) == 0
    with pytest.raises(IndexError):  # FAISS would read past the mapped codes
        snapshot.graph_nearest(turns, np.array([len(snapshot)]), 50)


def test_a_filter_matching_nothing_returns_nothing(served):
    gallery(n_hotels=10)
    index = SharedIndex(shortlist=50)
    query = queries(np.random.default_rng(1), 1)[0]
    assert index.search(query, 10, filters=HotelFilters(country="ZZ")) == []


def test_unfiltered_walk_finds_the_exact_top_100_with_owners(served):
    _, rng = gallery()
    index, exact = SharedIndex(shortlist=150), ExactIndex()
    recalls = []
    for query in queries(rng):
        found = index.search(query, 100)
        recalls.append(recall(found, exact.search(query, 100)))
        hotel_of = dict(RoomImage.objects.values_list("pk", "submission__hotel_id"))
        assert {found.owners[pk][0] for pk in ids(found)} == {hotel_of[pk] for pk in ids(found)}
    assert np.mean(recalls) >= 0.95


def full_vectors_read(monkeypatch) -> list[int]:
    """How many rows of full vectors each re-score reads (not the projection's scans)."""
    read, real = [], snapshots.inner_products

    def reading(matrix, rows, queries):
        if matrix.shape[1] == DIM:
            read.append(len(rows))
        return real(matrix, rows, queries)

    monkeypatch.setattr(snapshots, "inner_products", reading)
    return read


def test_through_a_projection_an_unfiltered_walks_best_are_re_scored_exactly(served, monkeypatch):
    # A large gallery's graph walks a PCA projection: its order picks the rows re-scored
    # (RESCORED_ROWS of the deeper walk, not the whole shortlist); their scores are exact.
    monkeypatch.setattr(snapshots, "PROJECT_ABOVE_ROWS", 0)
    monkeypatch.setattr(snapshots, "PROJECTED_DIM", 12)
    _, rng = gallery(rank=12)
    index, exact = SharedIndex(shortlist=1000), ExactIndex()
    read = full_vectors_read(monkeypatch)
    recalls = []
    for query in queries(rng):
        found, truth = index.search(query, 100), exact.search(query, 100)
        assert index.view.snapshot.projection is not None
        assert read.pop() <= shared_index.RESCORED_ROWS < 1000
        recalls.append(recall(found, truth))
        expected = dict(truth)
        for pk, score in found:
            if pk in expected:
                assert score == pytest.approx(expected[pk], abs=1e-5)
    assert np.mean(recalls) >= 0.95


def test_a_filtered_search_re_scores_all_its_walk_finds(served, monkeypatch):
    # Past the query's hotel a filter's rows are near-ties the projection orders poorly:
    # a filtered search re-scores the whole shortlist, not the best RESCORED_ROWS.
    hotels, rng = gallery()  # a chain of 34 hotels: 680 photos
    monkeypatch.setattr(shared_index, "EXACT_ROWS", 0)  # the filter walks
    index = SharedIndex(shortlist=500)
    read = full_vectors_read(monkeypatch)
    index.search(queries(rng, 1)[0], 100, filters=HotelFilters(chain=Chain.objects.get()))
    assert read[-1] == 500 > shared_index.RESCORED_ROWS


def test_inner_products_read_rows_in_place_as_numpy_would(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "m.npy", rng.standard_normal((50, 8)).astype(np.float32))
    matrix = np.asarray(np.load(tmp_path / "m.npy", mmap_mode="r"))  # read-only, mapped
    rows, turns = np.array([3, 49, 0, 3]), rng.standard_normal((3, 8)).astype(np.float32)
    assert np.allclose(snapshots.inner_products(matrix, rows, turns), matrix[rows] @ turns.T)
    assert snapshots.inner_products(matrix, rows[:0], turns).shape == (0, 3)
    with pytest.raises(IndexError):
        snapshots.inner_products(matrix, np.array([50]), turns)
    with pytest.raises(IndexError):
        snapshots.inner_products(matrix, np.array([-1]), turns)
    with pytest.raises(ValueError):
        snapshots.inner_products(matrix, rows, turns[:, :4])


@pytest.mark.skipif(
    not Path("/sys/kernel/mm/transparent_hugepage").exists(), reason="no transparent huge pages"
)
def test_an_opened_snapshot_asks_for_huge_pages_for_its_graph_and_vectors(served, tmp_path):
    _, rng = gallery()
    index = SharedIndex()
    index.search(queries(rng, 1)[0], 5)
    directory = index.view.snapshot.directory
    for name in ("index.faiss", "vectors.npy"):
        assert "hg" in smaps(directory / name)["VmFlags"], name  # MADV_HUGEPAGE
    assert "hg" not in smaps(directory / "image_ids.npy")["VmFlags"]
    np.save(tmp_path / "unmapped.npy", np.zeros(3))
    assert prefer_huge_pages([tmp_path / "unmapped.npy"]) == 0


def test_faiss_runs_on_one_thread_in_any_thread(served):
    import threading

    import faiss

    _, rng = gallery(n_hotels=10)
    index, query = SharedIndex(shortlist=50), queries(rng, 1)[0]
    index.search(query, 10)  # the snapshot opened in this thread
    view, seen = index.view, []

    def walk():  # a request thread of gunicorn's, say: OpenMP's default is per thread
        view.walk(query[None, :], 10, None)
        seen.append(faiss.omp_get_max_threads())

    def read():
        snapshots.inner_products(view.snapshot.vectors, np.arange(5), query[None, :])
        seen.append(faiss.omp_get_max_threads())

    for work in (walk, read):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert seen == [1, 1]


def test_photos_added_and_hidden_after_the_build_take_effect(served, hotel):
    from matcher.embedding import EMBEDDING, store_embedding
    from matcher.tests.embedding_factories import make_room_image

    hotels, rng = gallery()
    call_command("shared_index")
    index = SharedIndex(shortlist=100)
    query = queries(rng, 1)[0]
    best = ids(index.search(query, 1))[0]

    RoomImage.objects.filter(pk=best).update(status=RoomImage.Status.HIDDEN)  # bare update
    assert best not in ids(index.search(query, 50))

    image = make_room_image(hotels[3], status=EMBEDDING)
    assert store_embedding(image.pk, VERSION, query, expect=EMBEDDING)
    assert ids(index.search(query, 1)) == [image.pk]  # from the delta
    # Owners of a result mixing snapshot and delta rows: each image's own hotel and chain
    found = index.search(query, 20)
    assert image.pk in found.owners and len(found.owners) == 20
    hotel = "submission__hotel"
    truth = RoomImage.objects.filter(pk__in=ids(found)).values_list(
        "pk", f"{hotel}_id", f"{hotel}__chain_id"
    )
    assert found.owners == {pk: (hotel_id, chain_id) for pk, hotel_id, chain_id in truth}
    in_country = HotelFilters(country=hotels[3].country_code)
    assert ids(index.search(query, 1, filters=in_country)) == [image.pk]
    elsewhere = HotelFilters(country=hotels[4].country_code)
    assert image.pk not in ids(index.search(query, 50, filters=elsewhere))


def test_the_serving_state_is_the_version_and_the_markers_read_apart(served, hotel):
    from matcher.embedding import EMBEDDING, store_embedding
    from matcher.indexes.live_rows import LiveRows, serving_state
    from matcher.tests.embedding_factories import make_room_image

    assert serving_state() == (VERSION, None)  # no vector yet: follow reads its own
    gallery(n_hotels=3)
    assert serving_state() == (VERSION, LiveRows().markers())
    image = make_room_image(hotel, status=EMBEDDING)
    assert store_embedding(image.pk, VERSION, np.eye(1, DIM, 0)[0], expect=EMBEDDING)
    version, (newest, changed) = serving_state()
    assert (version, newest) == (VERSION, Embedding.objects.get(image=image).pk)
    assert changed == RoomImage.objects.get(pk=image.pk).status_changed_at
    assert (newest, changed) == LiveRows().markers()


def test_a_search_catches_up_with_the_markers_read_with_the_version(served, hotel, monkeypatch):
    from matcher.embedding import EMBEDDING, store_embedding
    from matcher.tests.embedding_factories import make_room_image

    _, rng = gallery(n_hotels=10)
    index = SharedIndex(shortlist=50)
    query = queries(rng, 1)[0]
    index.search(query, 5)  # opened and caught up
    image = make_room_image(hotel, status=EMBEDDING)
    assert store_embedding(image.pk, VERSION, query, expect=EMBEDDING)

    def unread(self):
        raise AssertionError("the markers were read again")

    monkeypatch.setattr(shared_index.View, "markers", unread)
    assert ids(index.search(query, 1)) == [image.pk]  # new photo found: markers given


def test_the_live_photo_index_is_what_live_images_asks():
    """The partial index that answers the liveness probes (`rooms_roomimage_live`) has
    `live_images()`'s condition: a change to one without the other leaves the probes
    reading table rows again (2.3 ms against 1.0 at 1M)."""
    from matcher.indexes import live_images

    index = next(i for i in RoomImage._meta.indexes if i.name == "rooms_roomimage_live")
    assert index.fields == ["id"]
    assert str(RoomImage.objects.filter(index.condition).query) == str(live_images().query)


def test_a_pipeline_left_by_an_error_leaves_the_connection_usable(served):
    from django.db import DatabaseError, connection, transaction

    from matcher.indexes.sql import pipelined

    if not shared_index.can_pipeline():
        pytest.skip("PostgreSQL (scripts/pytest-pgvector): pipelines are psycopg's")
    gallery(n_hotels=2)
    some = list(RoomImage.objects.values_list("pk", flat=True)[:3])
    with pytest.raises(RuntimeError), shared_index.liveness_probe(some):
        raise RuntimeError("the scoring failed before the probe was read")
    with pytest.raises(DatabaseError), transaction.atomic(), pipelined() as (send, sync):
        send("SELECT no_such_column FROM rooms_roomimage", [])  # a Django error, rolled back
        sync()
    with connection.cursor() as cursor:  # Django's connection still answers
        cursor.execute("SELECT count(*) FROM rooms_roomimage")
        assert cursor.fetchone()[0] == len(RoomImage.objects.all())
    assert shared_index.still_gone(some) == set()


def test_the_command_serves_a_whole_build_and_keeps_two(served, graph_dir, capsys):
    gallery(n_hotels=5)
    for _ in range(3):
        call_command("shared_index")
    assert "served" in capsys.readouterr().out
    home = snapshots.home(VERSION)
    builds = sorted(path.name for path in home.glob("build-*"))
    assert len(builds) == 2 and (home / "current").read_text() in builds
    assert not list(home.glob("current.*"))  # no partial pointer left


def test_a_failed_build_leaves_nothing_and_serves_the_old_one(served, monkeypatch):
    gallery(n_hotels=5)
    first = snapshots.build(VERSION)
    monkeypatch.setattr(snapshots, "hotel_ranges", lambda _: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        snapshots.build(VERSION)
    assert list(snapshots.home(VERSION).glob("build-*")) == [first]
    assert snapshots.open_current(VERSION).directory == first


def test_the_command_needs_vectors(db, graph_dir):
    with pytest.raises(CommandError, match="no active model version"):
        call_command("shared_index")


# --- across processes: one SQLite file, one snapshot, several searching processes ---

SETUP = """
import django; django.setup()
from matcher.tests.conftest import VERSION
from matcher.tests.embedding_factories import set_active
from matcher.tests.test_pgvector import gallery
set_active(VERSION)
gallery(n_hotels=60)
"""

SEARCHER = """
import json, sys
import django; django.setup()
import numpy as np
from matcher.indexes.shared import SharedIndex
index = SharedIndex(shortlist=100)
for line in sys.stdin:
    query = np.array(json.loads(line), dtype=np.float32)
    found = index.search(query, 20)
    print(json.dumps({"ids": [pk for pk, _ in found], "build": index.view.snapshot.directory.name}),
          flush=True)
"""


class Searcher:
    def __init__(self, env):
        self.process = subprocess.Popen(
            [sys.executable, "-c", SEARCHER], cwd=REPO, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip

    def search(self, query) -> dict:
        self.process.stdin.write(json.dumps(query.tolist()) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the searching process died"
        return json.loads(line)

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def shared_gallery(tmp_path):
    env = testing.django_env(tmp_path, MATCHER_INDEX_BACKEND="matcher.indexes.shared.SharedIndex",
                             MATCHER_GRAPH_DIR=tmp_path / "graphs")  # fmt: skip
    testing.migrate(env)
    subprocess.run([sys.executable, "-c", SETUP], cwd=REPO, env=env, check=True, timeout=120)
    testing.manage(env, "shared_index")
    searchers = [Searcher(env), Searcher(env)]
    yield env, searchers
    for searcher in searchers:
        searcher.stop()


@pytest.mark.slow
def test_a_photo_hidden_disappears_from_every_process(shared_gallery):
    env, searchers = shared_gallery
    query = queries(np.random.default_rng(3), 1)[0]
    first = [searcher.search(query)["ids"] for searcher in searchers]
    assert first[0] == first[1] and len(first[0]) == 20
    hidden = first[0][0]
    with sqlite3.connect(testing.sqlite_path(env), timeout=30) as connection:  # commits
        connection.execute(
            "UPDATE rooms_roomimage SET status = 'hidden', status_changed_at = ? WHERE id = ?",
            [datetime.datetime.now(datetime.UTC).isoformat(), hidden],
        )
    for searcher in searchers:
        assert hidden not in searcher.search(query)["ids"]


@pytest.mark.slow
def test_a_rebuild_swaps_in_whole_during_a_stream_of_searches(shared_gallery):
    env, (searcher, _) = shared_gallery
    query = queries(np.random.default_rng(4), 1)[0]
    expected = searcher.search(query)
    rebuild = subprocess.Popen(
        [sys.executable, "manage.py", "shared_index"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    builds, deadline = set(), time.monotonic() + 120
    while rebuild.poll() is None or len(builds) < 2:
        assert time.monotonic() < deadline, f"still serving {builds} after the rebuild"
        answer = searcher.search(query)
        assert answer["ids"] == expected["ids"]  # the same rows, old build or new: never mixed
        builds.add(answer["build"])
        assert len(builds) <= 2
    assert rebuild.returncode == 0
    assert builds == {expected["build"], (snapshots_home(env) / "current").read_text()}


def snapshots_home(env):
    from pathlib import Path

    graphs = Path(env["MATCHER_GRAPH_DIR"])
    (home,) = graphs.glob("shared-*")
    return home


def test_a_photo_set_is_ranked_as_its_photos_one_by_one(served, settings):
    from matcher import indexes as index_module
    from matcher.search import search_hotels, search_hotels_set

    hotels, rng = gallery()
    settings.MATCHER_INDEX_BACKEND = "matcher.indexes.shared.SharedIndex"
    index_module.reset_index()
    photos = [np.stack([query, -query]) for query in queries(rng, 3)]  # two "turns" each
    country = HotelFilters(country=hotels[2].country_code)
    calls = []
    index = index_module.get_index()
    real = index.search_many
    index.search_many = lambda *a, **kw: calls.append(len(a[0])) or real(*a, **kw)
    for filters in (None, country):
        together = search_hotels_set(photos, k=5, filters=filters)
        apart = [search_hotels(photo, k=5, filters=filters) for photo in photos]
        assert [o.hotels for o in together] == [o.hotels for o in apart]
    assert calls == [6, 2, 2, 2, 6, 2, 2, 2]  # a set: one call for its six turns
    index_module.reset_index()


def test_a_photo_set_walks_in_full_only_the_turns_its_probes_point_to(served, settings):
    from matcher import indexes as index_module
    from matcher.search import search_hotels_set

    _, rng = gallery()
    settings.MATCHER_INDEX_BACKEND = "matcher.indexes.shared.SharedIndex"
    index_module.reset_index()
    index = index_module.get_index()
    search_hotels_set([queries(rng, 1)[0]], k=5)  # opens the view
    walks, real = [], index.view.walk
    index.view.walk = lambda q, size, *a, **kw: (
        walks.append((len(q), kw.get("ef", size))) or real(q, size, *a, **kw)
    )
    # Photos of the gallery upright; their other turns resemble nothing in it.
    upright = [row.as_array() for row in Embedding.objects.order_by("pk")[:3]]
    photos = [np.stack([query, -query, -query, -query]) for query in upright]
    search_hotels_set(photos, k=5)
    # Every turn probed; only the upright ones (the others are far from everything) in full
    # (as deep as the shortlist).
    assert walks == [(12, shared_index.PROBE_EF), (3, index.shortlist)]
    index_module.reset_index()


def test_the_nightly_task_builds_only_for_the_shared_backend(served, settings):
    from matcher.tasks import rebuild_shared_index

    gallery(n_hotels=5)
    assert rebuild_shared_index() == "not serving SharedIndex"
    assert snapshots.open_current(VERSION) is None
    settings.MATCHER_INDEX_BACKEND = "matcher.indexes.shared.SharedIndex"
    built = rebuild_shared_index()
    assert snapshots.open_current(VERSION).directory.name == built.rsplit("/", 1)[-1]


def test_bench_index_measures_the_shared_index(db, graph_dir, capsys):
    args = ["--images", "400", "--queries", "3", "--filter", "none,country", "--dim", "64"]
    call_command("bench_index", *args, "--backend", "exact,shared", "--multi", "2")
    out = capsys.readouterr().out
    report = out[out.index("-- shared: ready in") :]
    assert "snapshot" in report and "catches up in" in report
    rows = {line.split()[0]: line.split() for line in report.splitlines() if line.startswith("   ")}
    assert float(rows["none"][-1]) >= 0.95 and float(rows["country"][-1]) >= 0.95
    assert out.count("index time p50 (") == 4  # exact, then shared; two turn models each
    budgeted = [line for line in report.splitlines() if "every turn walked in full" in line]
    assert len(budgeted) == 2 and all("fused top-10 hotels found" in line for line in budgeted)


def test_a_large_gallery_searches_the_database_until_its_snapshot_is_built(
    served, graph_dir, monkeypatch
):
    _, rng = gallery()
    monkeypatch.setattr(shared_index, "AUTO_BUILD_ROWS", 1000)
    index, query = SharedIndex(shortlist=50), queries(rng, 1)[0]

    for _ in range(2):
        assert ids(index.search(query, 10)) == ids(ExactIndex().search(query, 10))
    assert index.view is None and not graph_dir.exists()  # the database answered

    call_command("shared_index")
    assert ids(index.search(query, 10)) == ids(ExactIndex().search(query, 10))
    assert index.view is not None


def test_an_id_restriction_applies_to_photos_added_after_the_build(served, hotel):
    from matcher.embedding import EMBEDDING, store_embedding
    from matcher.tests.embedding_factories import make_room_image

    hotels, rng = gallery(n_hotels=10)
    index, query = SharedIndex(shortlist=50), queries(rng, 1)[0]
    index.search(query, 1)  # builds the snapshot
    added = make_room_image(hotels[0], status=EMBEDDING)
    assert store_embedding(added.pk, VERSION, query, expect=EMBEDDING)
    allowed = list(RoomImage.objects.exclude(pk=added.pk).values_list("pk", flat=True)[:5])

    assert set(ids(index.search(query, 10, image_ids=np.array(allowed)))) == set(allowed)
    assert ids(index.search(query, 1, image_ids=np.array([added.pk]))) == [added.pk]


def test_a_hotel_edited_after_the_build_follows_the_filter(served):
    hotels, rng = gallery()
    index, query = SharedIndex(shortlist=300), queries(rng, 1)[0]
    moved = hotels[7]
    old_country = HotelFilters(country=moved.country_code)
    assert moved.pk in hotels_of(index.search(query, 100, filters=old_country))

    Hotel.objects.filter(pk=moved.pk).update(country_code="ZZ")

    found = index.search(query, 100, filters=old_country)
    assert moved.pk not in hotels_of(found) and len(found) == 100


def test_a_filtered_walk_that_comes_back_short_is_scanned_instead(served, monkeypatch):
    hotels, rng = gallery()
    monkeypatch.setattr(shared_index, "EXACT_ROWS", 0)  # every filter walks
    index, exact = SharedIndex(shortlist=100), ExactIndex()
    query, filters = queries(rng, 1)[0], HotelFilters(country=hotels[1].country_code)
    index.search(query, 1)  # opens the view
    monkeypatch.setattr(
        shared_index.View, "walk", lambda self, queries, size, rows, ef: np.full(size, -1)
    )  # as FAISS answers when few allowed rows lie near the query

    found = index.search(query, 100, filters=filters)
    assert ids(found) == ids(exact.search(query, 100, hotels=hotels_filtered(filters)))


def hotels_of(found):
    return {hotel_id for hotel_id, _ in found.owners.values()}


def spy_on_context_paths(monkeypatch) -> dict:
    """How many photos `View.photos_in_context` scores from the table, which hotels it
    blends anew."""
    paths = {"gathered": 0, "blended": set()}
    gather, blend = shared_index.scores_from_table, shared_index.blended_cosines

    def gathered(cosines, scored, neighbours, blend_norms):
        paths["gathered"] += len(scored)
        return gather(cosines, scored, neighbours, blend_norms)

    def blended(vectors, hotels, turns):
        paths["blended"].update(int(hotel) for hotel in hotels)
        return blend(vectors, hotels, turns)

    monkeypatch.setattr(shared_index, "scores_from_table", gathered)
    monkeypatch.setattr(shared_index, "blended_cosines", blended)
    return paths


def test_hotel_context_scores_from_the_snapshot_as_from_the_database(served, settings, monkeypatch):
    """The photos scored in their hotel's context: the live ones, built or added since;
    a hotel as built gathered from the snapshot's neighbour table, the others blended
    anew, each as the database path blends them."""
    from matcher import context
    from matcher import indexes as index_module
    from matcher.embedding import EMBEDDING, store_embedding
    from matcher.tests.embedding_factories import make_room_image

    hotels, rng = gallery()
    call_command("shared_index")
    wanted = [hotels[3].pk, hotels[5].pk, hotels[7].pk]  # 5 stays as built
    hidden = RoomImage.objects.filter(submission__hotel=hotels[3]).first()
    RoomImage.objects.filter(pk=hidden.pk).update(status=RoomImage.Status.HIDDEN)
    added = make_room_image(hotels[7], status=EMBEDDING)
    assert store_embedding(added.pk, VERSION, queries(rng, 1)[0], expect=EMBEDDING)
    turns = queries(rng, 4)

    def photos():
        found = context.photos_in_context(wanted, turns)
        order = np.argsort(found[0])
        return [column[order] for column in found]

    from_database = photos()  # the default backend has no snapshot to read
    settings.MATCHER_INDEX_BACKEND = "matcher.indexes.shared.SharedIndex"
    index_module.reset_index()
    index_module.get_index().search(queries(rng, 1)[0], 5)  # opens and catches up
    assert index_module.get_index().view.snapshot.context is not None  # the table is read
    paths = spy_on_context_paths(monkeypatch)
    from_snapshot = photos()
    assert hidden.pk not in from_snapshot[0] and added.pk in from_snapshot[0]
    as_built = RoomImage.objects.filter(submission__hotel=hotels[5]).count()
    assert paths == {"gathered": as_built, "blended": {hotels[3].pk, hotels[7].pk}}
    for ours, theirs in zip(from_snapshot[:3], from_database[:3], strict=True):
        assert np.array_equal(ours, theirs)
    for ours, theirs in zip(from_snapshot[3:], from_database[3:], strict=True):
        assert np.allclose(ours, theirs, atol=1e-5)
    # Hidden by a bare update after the view caught up: the scores made while the probe
    # was answered are thrown away and its hotel is blended anew without it, as the
    # database path does (compared below).
    late = RoomImage.objects.filter(submission__hotel=hotels[5]).first()
    RoomImage.objects.filter(pk=late.pk).update(status=RoomImage.Status.HIDDEN)
    paths["gathered"], paths["blended"] = 0, set()
    from_snapshot = photos()
    assert late.pk not in from_snapshot[0]
    assert paths == {"gathered": as_built, "blended": {hotels[3].pk, hotels[5].pk, hotels[7].pk}}
    index_module.get_index().view.snapshot.context = None  # a build from before the table
    assert np.allclose(photos()[4], from_snapshot[4], atol=1e-5)
    settings.MATCHER_INDEX_BACKEND = index_module.default_backend()
    index_module.reset_index()
    from_database = photos()
    assert np.allclose(from_snapshot[4], from_database[4], atol=1e-5)
    index_module.reset_index()
    from_database = photos()
    assert np.allclose(from_snapshot[4], from_database[4], atol=1e-5)
    index_module.reset_index()


def test_with_hotel_context_one_liveness_probe_keeps_a_hidden_photo_out(
    served, settings, monkeypatch
):
    """The index's first round is not checked (it only names the leading hotels): the
    context step's probe keeps a photo hidden by a bare update out of every score."""
    from matcher import indexes as index_module
    from matcher.search import search_hotels

    hotels, rng = gallery()
    call_command("shared_index")
    settings.MATCHER_INDEX_BACKEND = "matcher.indexes.shared.SharedIndex"
    index_module.reset_index()
    query = queries(rng, 1)[0]
    probes = []

    def probe(image_ids):
        probes.append(set(image_ids))
        return liveness_probe(image_ids)

    liveness_probe = shared_index.liveness_probe
    monkeypatch.setattr(shared_index, "liveness_probe", probe)
    for context in (True, False):  # without context, the first round is what is checked
        settings.MATCHER_HOTEL_CONTEXT = context
        best = search_hotels(query, k=5).hotels[0]["matches"][0]["image_id"]
        RoomImage.objects.filter(pk=best).update(status=RoomImage.Status.HIDDEN)  # bare update
        probes.clear()
        outcome = search_hotels(query, k=5)
        assert best in probes[0]
        if context:  # one query; without, a second once the first found a photo gone
            assert len(probes) == 1
        assert len(outcome.hotels) == 5
        for hotel in outcome.hotels:  # a hotel scores its best live photo, not the hidden one
            assert best not in [match["image_id"] for match in hotel["matches"]]
            assert hotel["score"] == hotel["matches"][0]["score"]
            live = index_module.live_images().filter(submission__hotel_id=hotel["hotel"]["id"])
            assert hotel["photo_count"] == live.count()  # counted by the context step
    index_module.reset_index()


def test_unchecked_neighbours_are_checked_when_context_finds_no_photo(
    served, settings, monkeypatch
):
    """Where the context step returns nothing to score, the first round it was to check
    is checked here: a photo hidden by a bare update still reaches no score."""
    from matcher import context
    from matcher import indexes as index_module
    from matcher.search import search_hotels

    hotels, rng = gallery()
    call_command("shared_index")
    settings.MATCHER_INDEX_BACKEND = "matcher.indexes.shared.SharedIndex"
    settings.MATCHER_HOTEL_CONTEXT = False  # the best plain cosine: what would lead
    index_module.reset_index()
    query = queries(rng, 1)[0]
    best = search_hotels(query, k=5).hotels[0]["matches"][0]["image_id"]
    RoomImage.objects.filter(pk=best).update(status=RoomImage.Status.HIDDEN)  # bare update
    settings.MATCHER_HOTEL_CONTEXT = True
    monkeypatch.setattr(context, "photos_in_context", lambda hotel_ids, turns: None)
    outcome = search_hotels(query, k=5)
    assert len(outcome.hotels) == 5
    for hotel in outcome.hotels:  # plain cosines, without the hidden photo's
        assert hotel["score"] == hotel["matches"][0]["score"]
    index_module.reset_index()
