"""`manage.py bench_index`: the vector index at Hotels-50K scale (figures, not a test).

Loads a synthetic gallery into the configured database (a scratch one: the command
refuses a database holding real hotels), then per backend reports the full hotel
ranking's latency (`search_hotels`, query embedding excluded), recall@100 of the
image search against the exact index, build time and memory/disk.

The gallery is shaped like real descriptors, not uniform noise: every vector shares a
mean direction (GeM descriptors are non-negative, so unrelated photos still have
cosine ~0.3), hotels are centroids in a 128-dim subspace, and each hotel's
`--per-hotel` photos scatter around its centroid. Queries are new photos of random
hotels. Hotels get a country (40, Zipf-weighted), a city (10 per country), a chain
(60 % of hotels, 30 chains) and coordinates near their city, so filters have the
selectivity of a real catalogue.

    DATABASE_URL=postgres://... manage.py migrate
    DATABASE_URL=postgres://... manage.py bench_index --images 100000 --backend exact,pgvector
"""

import datetime
import gc
import hashlib
import json
import os
import resource
import statistics
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import override_settings

from benchmarks.gallery import PREFIX, SPECTRA, load_gallery
from matcher import indexes as index_module
from matcher.indexes import pgvector as pgvector_index
from matcher.models import IndexState, Projection
from matcher.search import index_restriction, search_hotels
from rooms.models import Hotel, RoomImage
from rooms.selectors import HotelFilters

BACKENDS = {
    "exact": index_module.EXACT_BACKEND,
    "pgvector": index_module.PGVECTOR_BACKEND,
    "graph": index_module.GRAPH_BACKEND,
    "shared": index_module.SHARED_BACKEND,
}
FILTERS = ("none", "country", "chain", "city", "radius 25 km")


def percentile(values, q):
    return float(np.percentile(values, q))


class Command(BaseCommand):
    help = "Latency, recall@100 and size of the vector index backends on a synthetic gallery."

    def add_arguments(self, parser):
        parser.add_argument("--images", default="100000", help="gallery sizes, comma-separated")
        parser.add_argument("--backend", default="exact,pgvector", help=f"of {list(BACKENDS)}")
        parser.add_argument("--dim", type=int, default=1280)
        parser.add_argument("--per-hotel", type=int, default=20)
        parser.add_argument("--queries", type=int, default=30)
        parser.add_argument("--k", type=int, default=10, help="hotels per search")
        parser.add_argument(
            "--ef-search",
            type=int,
            default=pgvector_index.EF_SEARCH_MIN,
            help="full-dimension graph (with --reduce, the shortlist is the ef_search)",
        )
        parser.add_argument(
            "--filters", "--filter", default=",".join(FILTERS[:3]), help=f"of {FILTERS}"
        )
        parser.add_argument(
            "--multi",
            type=int,
            default=0,
            help="also time the index part of an N-photo set (4 turns a photo) against one photo",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=0,
            help="graph, shared: then N processes each serve the index; their PSS is summed",
        )
        parser.add_argument(
            "--reduce", type=int, default=0, help="pgvector, graph: over a PCA projection (dims)"
        )
        parser.add_argument("--spectrum", choices=SPECTRA, default="flat", help="see Gallery")
        parser.add_argument(
            "--oracle",
            default="",
            help="file keeping the exact answers: a re-run skips the exact index (and its "
            "~9 GB at 1M, which pushes the table out of the page cache)",
        )
        parser.add_argument(
            "--shortlist",
            type=int,
            default=None,
            help="pgvector with --reduce, and graph: candidates re-scored exactly (at least; "
            "default: the MATCHER_PGVECTOR_SHORTLIST, MATCHER_GRAPH_SHORTLIST or "
            "MATCHER_SHARED_SHORTLIST setting)",
        )

    def handle(self, *args, **opts):
        backends = opts["backend"].split(",")
        if unknown := set(backends) - set(BACKENDS):
            raise CommandError(f"unknown backend(s) {sorted(unknown)}; use {list(BACKENDS)}")
        if "pgvector" in backends and connection.vendor != "postgresql":
            raise CommandError("--backend pgvector needs DATABASE_URL pointing at PostgreSQL")
        if Hotel.objects.exclude(external_ref__startswith=PREFIX).exists():
            raise CommandError(
                "this database holds real hotels: point DATABASE_URL at a scratch one"
            )
        filters = opts["filters"].split(",")
        if unknown := set(filters) - set(FILTERS):
            raise CommandError(f"unknown filter(s) {sorted(unknown)}; use {list(FILTERS)}")
        self.stdout.write(
            f"{datetime.date.today()} {connection.vendor}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}; dim {opts['dim']}, k={opts['k']}"
        )
        for n in (int(part) for part in opts["images"].split(",")):
            gallery = load_gallery(
                n, opts["dim"], opts["per_hotel"], opts["spectrum"], say=self.stdout.write
            )
            cases = self.queries(gallery, n // opts["per_hotel"], opts["queries"], filters)
            keys = oracle_keys(cases)
            oracle = load_oracle(opts["oracle"], keys)
            if oracle is None or "exact" in backends:
                oracle = {}
                self.bench("exact", cases, keys, oracle, opts)  # fills the oracle
                save_oracle(opts["oracle"], oracle)
            for backend in backends:
                if backend != "exact":
                    self.bench(backend, cases, keys, oracle, opts)

    def queries(self, gallery, n_hotels, count, filters) -> list:
        """(filter name, HotelFilters, query vector), `count` per filter."""
        rng = np.random.default_rng(7)
        targets = rng.choice(n_hotels, size=count)
        vectors = gallery.photos(targets, seed=10**9)  # views no traveller uploaded
        hotels = Hotel.objects.in_bulk([f"{PREFIX}{t}" for t in targets], field_name="external_ref")
        cases = []
        for name in filters:
            for target, vector in zip(targets, vectors, strict=True):
                filters = hotel_filter(name, hotels[f"{PREFIX}{target}"])
                if filters is not None or name == "none":  # "chain": hotels in a chain only
                    cases.append((name, filters, vector))
        return cases

    # --- one backend ---

    def bench(self, backend, cases, keys, oracle, opts):
        with override_settings(MATCHER_INDEX_BACKEND=BACKENDS[backend]):
            index_module.reset_index()
            index = index_module.get_index()
            if backend == "pgvector":
                index.ef_search = opts["ef_search"]
            if backend in ("pgvector", "graph", "shared"):
                index.shortlist = opts["shortlist"] or index.shortlist
            build, size = self.build(backend, index, cases[0][2], opts["reduce"])
            latency, recall = {}, {}
            for (name, filters, vector), key in zip(cases, keys, strict=True):
                restriction = index_restriction(index, filters)
                if restriction is None:  # no hotel passes the filter
                    restriction = {"image_ids": []}
                found = index.search(vector, 100, **restriction)
                if backend == "exact":
                    oracle[key] = {image_id for image_id, _ in found}
                truth = oracle[key]
                recall.setdefault(name, []).append(
                    len(truth & {i for i, _ in found}) / max(1, len(truth))
                )
                # Timed after the recall query with the same vector: a second touch, so
                # the figure leaves out first-read I/O (measured apart in benchmarks.md).
                start = time.perf_counter()
                search_hotels(vector, k=opts["k"], filters=filters)
                latency.setdefault(name, []).append((time.perf_counter() - start) * 1000)
            multi = ""
            if opts["multi"]:
                unfiltered = [vector for name, _, vector in cases if name == "none"]
                multi = "\n   ".join(
                    photo_set_cost(index, unfiltered, opts["multi"], model)
                    for model in ("near", "unlike")
                )
            index_module.reset_index()
        del index  # unmapped before the processes are measured: it would share their pages
        gc.collect()
        if backend in opts["backend"].split(","):
            self.report(backend, build, size, latency, recall)
        if multi:
            self.stdout.write(f"   {multi}")
        if opts["processes"] and backend in ("graph", "shared"):
            vectors = np.stack([vector for _, _, vector in cases])
            self.stdout.write(
                f"   {processes_memory(BACKENDS[backend], opts['processes'], vectors)}"
            )

    def build(self, backend, index, vector, reduce=0) -> tuple[float, str]:
        """(seconds, size) of making the backend ready: HNSW build, or the exact load."""
        version, dim = IndexState.get().active_version, len(vector)
        start = time.perf_counter()
        if backend == "graph":
            return self.build_graph(index, version, vector, reduce)
        if backend == "shared":
            return self.build_shared(index, version, vector)
        if backend == "pgvector":
            from matcher.indexes.pgvector import ensure_hnsw_index, hnsw_index_name

            with connection.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem = '8GB'")
                cursor.execute("SET max_parallel_maintenance_workers = 1")  # 2 cores
            note = ""
            if reduce:
                reduced, note = self.reduce(version, reduce)
                version, dim = reduced.key, reduced.dim
                start = time.perf_counter()
            ensure_hnsw_index(version, dim)
            seconds = time.perf_counter() - start
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_size_pretty(pg_relation_size(%s)), "
                    "pg_size_pretty(pg_total_relation_size('matcher_embedding'))",
                    [hnsw_index_name(version, dim)],
                )
                index_size, table_size = cursor.fetchone()
            return seconds, f"{note}HNSW index {index_size}; embedding table {table_size}"
        index.search(vector, 1)  # first search loads the matrix
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return seconds, f"matrix {index.matrix.nbytes / 2**20:.0f} MiB; peak RSS {peak:.0f} MiB"

    def build_graph(self, index, version, vector, reduce) -> tuple[float, str]:
        """As `manage.py graph_index` (once per gallery); then a new process's load."""
        from matcher.indexes.graph import GraphIndex, graph_file, graph_mib

        note = ""
        if reduce:
            reduced, note = self.reduce(version, reduce)
            version = reduced.key
        start = time.perf_counter()
        rows_file = graph_file(version)
        if rows_file.exists():  # the gallery's graph, from an earlier run
            note += f"reusing {rows_file}; "
        else:
            index.threads = os.cpu_count()
            index.build(version)
            index.threads = 1
            index.save()
        seconds = time.perf_counter() - start
        rss = resident_mib()
        start = time.perf_counter()
        loaded = GraphIndex()
        loaded.search(vector, 1)  # loads the file and reconciles it with the database
        load = time.perf_counter() - start
        grown = resident_mib() - rss
        del loaded
        return seconds, (
            f"{note}graph file {graph_mib(rows_file):.0f} MiB; a new process loads it and catches "
            f"up in {load:.1f} s, resident memory +{grown:.0f} MiB"
        )

    def build_shared(self, index, version, vector) -> tuple[float, str]:
        """As `manage.py shared_index` (once per gallery: a served build is reused)."""
        from matcher.indexes import snapshot

        start = time.perf_counter()
        current = snapshot.open_current(version)
        note = "" if current is None else f"reusing {current.directory}; "
        if current is None or len(current) != index_module.searchable_embeddings(version).count():
            note = ""
            snapshot.build(version, threads=os.cpu_count())
        seconds = time.perf_counter() - start
        rss = resident_mib()
        start = time.perf_counter()
        index.search(vector, 1)  # maps the files and reconciles them with the database
        index.view.snapshot.warm()  # what a new process does in the background
        load = time.perf_counter() - start
        built = snapshot.open_current(version).directory
        size = sum(path.stat().st_size for path in built.iterdir()) / 2**20
        return seconds, (
            f"{note}snapshot {size:.0f} MiB; this process maps it and catches up in "
            f"{load:.1f} s, resident memory +{resident_mib() - rss:.0f} MiB"
        )

    def reduce(self, version: str, dim: int):
        """The same steps as `pgvector_index --reduce`: learn, project every vector."""
        from matcher.indexes import projection

        reduced = Projection.objects.filter(source_version=version, dim=dim).first()
        start = time.perf_counter()
        if reduced is None:
            reduced = projection.create(
                version, dim, projection.sample_vectors(version, projection.DEFAULT_SAMPLE)
            )
        learned = time.perf_counter() - start
        start = time.perf_counter()
        projection.backfill(reduced)
        note = (
            f"PCA {dim} learned in {learned:.0f} s (keeps {reduced.explained_variance:.1%}), "
            f"projected in {time.perf_counter() - start:.0f} s; "
        )
        return reduced, note

    def report(self, backend, build, size, latency, recall):
        self.stdout.write(f"-- {backend}: ready in {build:.1f} s; {size}")
        self.stdout.write(f"   {'filter':14s} {'p50 ms':>8s} {'p95 ms':>8s} {'recall@100':>10s}")
        for name, values in latency.items():
            self.stdout.write(
                f"   {name:14s} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
                f"{statistics.fmean(recall[name]):10.3f}"
            )


def resident_mib() -> float:
    """This process's resident memory now (ru_maxrss is a peak, not a level)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


SERVER = """
import sys, time
import django; django.setup()
import numpy as np
from matcher.indexes import get_index
from matcher.search import index_restriction, search_hotels
queries = np.load(sys.argv[1])
index = get_index()
for query in queries:
    search_hotels(query, k=10)
if getattr(index, "view", None) is not None:  # SharedIndex: its pages, all touched once
    index.view.snapshot.warm()
print("ready", flush=True)
sys.stdin.read()  # serve until the benchmark closes stdin
"""


def photo_set_cost(index, vectors, photos: int, turn_model: str = "near") -> str:
    """Index time of a search of one photo against a set of `photos` (4 turns each),
    and how much of the exact fused hotel top-10 the set's search finds.

    As the searches ask: one photo its first round of `first_round_size(10)` images; a
    set, each photo `first_round_size(fusion_k(10))`, all in one `search_many` call
    where the backend has it (`search_hotels_set`, with its per-photo walk budget),
    else turn by turn. `turn_model`: what the other three turns look like —
    "near": noisy copies of the photo (cosine ~0.85: the worst case for a budget);
    "unlike": views near no gallery photo (as a turned hotel-room photo is: the upright
    turn wins 98 % of a real query's top-10 images, docs/benchmarks.md).
    """
    from investigations.services import fusion_k
    from matcher.search import first_round_size

    rng = np.random.default_rng(3)
    set_size, single_size = first_round_size(fusion_k(10)), first_round_size(10)
    budget = {"turns": 4} if getattr(index, "budgets_sets", False) else {}

    def near(vector, count):  # other photos of the room: cosine ~0.85 to it
        noisy = vector + 0.6 * rng.normal(size=(count, len(vector))) / np.sqrt(len(vector))
        return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)

    def turns(vector):  # the photo upright, and three other views of it
        other = rng.normal(size=(4, len(vector))) if turn_model == "unlike" else near(vector, 4)
        other[0] = vector
        return (other / np.linalg.norm(other, axis=1, keepdims=True)).astype(np.float32)

    def search(queries, k, **options):
        if hasattr(index, "search_many"):
            return index.search_many(queries, k, **options)
        return [index.search(query, k) for query in queries]

    single, several, unbudgeted, agreement, agreement_unbudgeted = [], [], [], [], []
    for vector in vectors:
        one = turns(vector)
        group = np.concatenate([one, *(turns(other) for other in near(vector, photos - 1))])
        search(one, single_size)  # warm, as in `bench`
        search(group, set_size, **budget)
        search(group, set_size)
        single.append(timed(search, one, single_size)[1])
        found, took = timed(search, group, set_size, **budget)
        several.append(took)
        found_all, took = timed(search, group, set_size)
        unbudgeted.append(took)
        exact = exact_set_hotels(index, group, photos, set_size)
        if exact is not None:
            agreement.append(hotels_found(found, photos, set_size, exact))
            agreement_unbudgeted.append(hotels_found(found_all, photos, set_size, exact))
    one, many = percentile(single, 50), percentile(several, 50)
    line = (
        f"index time p50 ({turn_model} turns): one photo {one:.1f} ms; a set of {photos} "
        f"{many:.1f} ms ({many / one:.2f}x)"
    )
    if agreement:
        line += f", fused top-10 hotels found {np.mean(agreement):.3f}"
    if budget:
        every = percentile(unbudgeted, 50)
        line += f"; every turn walked in full: {every:.1f} ms ({every / one:.2f}x)"
        if agreement_unbudgeted:
            line += f", found {np.mean(agreement_unbudgeted):.3f}"
    return line


def timed(call, *args, **kwargs):
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000


def hotels_found(found, photos, size, exact) -> float:
    """Share of the exact fused top-10 hotels in the fused top-10 of `found`."""
    owners = {pk: o[0] for pairs in found for pk, o in getattr(pairs, "owners", {}).items()}
    mine = fused_hotels(found, photos, size, owners | exact[1])
    return len(set(mine) & set(exact[0])) / len(exact[0])


def fused_hotels(found, photos, size, hotel_of) -> list[int]:
    """The set's fused top-10 hotels from each turn's neighbours, as the search fuses."""
    from investigations.services import fusion_k
    from retrieval.ranking import aggregate_hotels, best_turn, fuse_rankings

    per_photo = [best_turn(found[p * 4 : p * 4 + 4], size) for p in range(photos)]
    rankings = [
        [(hit.hotel_id, hit.score) for hit in aggregate_hotels(pairs, hotel_of)[: fusion_k(10)]]
        for pairs in per_photo
    ]
    return [hotel for hotel, _, _ in fuse_rankings(rankings)[:10]]


def exact_set_hotels(index, group, photos, size):
    """(fused top-10 hotels, {image: hotel}) of the set by an exact scan of the
    snapshot's full vectors; None for backends without a snapshot."""
    view = getattr(index, "view", None)
    if view is None:
        return None
    snapshot = view.snapshot
    scores = np.concatenate(
        [
            np.asarray(snapshot.vectors[start : start + 100_000]) @ group.T
            for start in range(0, len(snapshot), 100_000)
        ]
    )
    found, hotel_of, rows = [], {}, np.arange(len(snapshot))
    for column in range(len(group)):
        best = index_module.top_k(rows, scores[:, column], size)  # (row, score)
        found.append([(int(snapshot.image_ids[r]), score) for r, score in best])
        hotel_of.update({int(snapshot.image_ids[r]): int(snapshot.hotel_ids[r]) for r, _ in best})
    return fused_hotels(found, photos, size, hotel_of), hotel_of


def proportional_mib(pid: int) -> float:
    """PSS: shared pages count 1/n in each of the n processes mapping them."""
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        line = next(line for line in rollup if line.startswith("Pss:"))
    return int(line.split()[1]) / 1024


def processes_memory(backend: str, count: int, queries: np.ndarray) -> str:
    """PSS of 1, then `count`, processes that each loaded `backend` and searched."""
    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".npy") as file:
        np.save(file.name, queries)
        env = {**os.environ, "MATCHER_INDEX_BACKEND": backend}
        sums = {}
        for n in sorted({1, count}):
            servers = [
                subprocess.Popen(
                    [sys.executable, "-c", SERVER, file.name],
                    env=env,
                    text=True,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )  # fmt: skip
                for _ in range(n)
            ]
            try:
                for server in servers:
                    assert server.stdout.readline().strip() == "ready", "a server failed"
                sums[n] = sum(proportional_mib(server.pid) for server in servers)
            finally:
                for server in servers:
                    server.stdin.close()
                    server.wait(timeout=60)
    return (
        f"PSS: 1 process {sums[1]:.0f} MiB; {count} processes {sums[count]:.0f} MiB in all "
        f"({sums[count] / sums[1]:.2f}x one)"
    )


def oracle_keys(cases) -> list[str]:
    """One key per case: gallery (a reload gives new image ids), filter and query."""
    first_image = RoomImage.objects.order_by("pk").values_list("pk", flat=True).first()
    gallery = f"{IndexState.get().active_version}:{first_image}"
    return [
        f"{gallery}:{name}:{hashlib.sha256(vector.tobytes()).hexdigest()}"
        for name, _, vector in cases
    ]


def load_oracle(path: str, keys) -> dict | None:
    """The stored exact answers for these keys, or None (no file, or other cases)."""
    if not path or not os.path.exists(path):
        return None
    with open(path) as file:
        stored = json.load(file)
    if not all(key in stored for key in keys):
        return None
    return {key: set(stored[key]) for key in keys}


def save_oracle(path: str, oracle: dict) -> None:
    if not path:
        return
    stored = {}
    if os.path.exists(path):
        with open(path) as file:
            stored = json.load(file)
    stored.update({key: sorted(ids) for key, ids in oracle.items()})
    with open(path, "w") as file:
        json.dump(stored, file)


def hotel_filter(name, hotel) -> HotelFilters | None:
    """The investigator's filter around the right hotel (so it is a plausible query)."""
    if name == "none":
        return None
    if name == "country":
        return HotelFilters(country=hotel.country_code)
    if name == "chain":
        return HotelFilters(chain=hotel.chain) if hotel.chain_id else None
    if name == "city":
        return HotelFilters(country=hotel.country_code, city=hotel.city)
    return HotelFilters(near=(hotel.latitude, hotel.longitude), radius_km=25)


# --- bulk vector writes: COPY on PostgreSQL (both columns), executemany elsewhere ---
