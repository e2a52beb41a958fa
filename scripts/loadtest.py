#!/usr/bin/env python
"""Bounded load test on loopback: gunicorn + a real Celery worker + Redis + a database.

    .venv/bin/python scripts/loadtest.py                      # 1000 uploads, concurrency 16
    .venv/bin/python scripts/loadtest.py --uploads 100 --database sqlite

Starts everything itself (a private redis-server on a free port, a throwaway
PostgreSQL database on 127.0.0.1:5432 or a SQLite file, gunicorn --workers 2, one
Celery worker), uploads N varied small JPEGs through the public API at the given
concurrency while investigator searches run in parallel through the token API, then
waits (bounded) for the queue to drain and checks that nothing was lost:

- no 5xx answer, from uploads or searches;
- every accepted upload has its row and its file, and reaches `embedded`;
- one Embedding row per image (none missing, none duplicated).

Prints the figures (and writes them as JSON with --json). Exit status 0 only when
every check passed. Every process it started is stopped, and the database dropped,
whatever happens (Ctrl-C included); --deadline bounds the whole run.
"""

import argparse
import http.client
import io
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from testsupport import processes as testing  # noqa: E402

# Any PostgreSQL the run may create a throwaway database on (LOADTEST_PG_URL).
PG_ADMIN_URL = os.environ.get("LOADTEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(admin_url: str, name: str) -> str:
    """The same server (TCP or socket folder), another database."""
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--searchers", type=int, default=1, help="parallel search loops")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=1200, help="seconds for everything")
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)


# --- HTTP, stdlib only ---


def multipart(fields: dict, files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    body = "".join(parts).encode()
    for field, filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        body += head.encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(port: int, path: str, body: bytes, content_type: str, headers=None, timeout=120):
    """(status, parsed JSON or None, seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": content_type, **(headers or {})})
        response = connection.getresponse()
        raw = response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return 0, {"detail": f"connection error: {exc}"}, time.perf_counter() - started
    finally:
        connection.close()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    return status, data, time.perf_counter() - started


def room_jpeg(seed: int, size=(192, 144)) -> bytes:
    """A small JPEG, different from every other seed's (no exact or near duplicates)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


# --- the stack ---


class Stack:
    """Redis, database, gunicorn and worker; `close()` stops and removes everything."""

    def __init__(self, args, stack: ExitStack):
        self.args = args
        self.tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tc-load-")))
        self.redis = testing.RedisServer(self.tmp)
        self.redis.start()
        stack.callback(self.redis.stop)
        database_url = self._database(stack)
        self.env = testing.django_env(
            self.tmp,
            broker_url=self.redis.url(0),
            DJANGO_SETTINGS_MODULE="traffickcam.settings",
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(50),
            SECURE_SSL_REDIRECT="0",
            ALLOWED_HOSTS="127.0.0.1",
            DATABASE_URL=database_url,
            REDIS_CACHE_URL=self.redis.url(1),  # rate limits shared by gunicorn workers
        )
        testing.migrate(self.env)
        self.port = testing.free_port()
        self.gunicorn = testing.start_process(
            [str(testing.BIN / "gunicorn"), "traffickcam.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--timeout", "120",
             "--backlog", "256", "--no-control-socket"],
            env=self.env, log=self.tmp / "gunicorn.log",
        )  # fmt: skip
        stack.callback(testing.stop_process, self.gunicorn)
        self.worker = testing.start_worker(
            self.env, self.tmp / "worker.log", concurrency=args.worker_concurrency, beat=True
        )
        stack.callback(testing.stop_process, self.worker)
        testing.wait_for(self._healthy, 60, what="gunicorn /healthz")

    def _database(self, stack: ExitStack) -> str:
        if self.args.database == "sqlite":
            return f"sqlite:///{self.tmp / 'load.sqlite3'}"
        import psycopg

        name = f"tc_load_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

        def drop():
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        stack.callback(drop)
        self.pg_url = database_url(PG_ADMIN_URL, name)
        return self.pg_url

    def _healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False

    def query(self, sql: str) -> list[tuple]:
        if self.args.database == "sqlite":
            return testing.sql(testing.sqlite_path(self.env), sql)
        import psycopg

        with psycopg.connect(self.pg_url) as connection:
            return connection.execute(sql).fetchall()

    def shell(self, code: str) -> str:
        return testing.manage(self.env, "shell", "--no-imports", "-c", code).stdout


# --- the run ---


def setup_data(stack: Stack) -> tuple[list[int], str]:
    code = (
        "from rooms.models import Hotel\n"
        "ids = [Hotel.objects.create(name=f'Load Inn {i}', city='Lyon', country_code='FR',"
        " latitude=45 + i / 100, longitude=4.8, external_ref=f'LOAD-{i}').id for i in range(20)]\n"
        "print(','.join(map(str, ids)))"
    )
    hotels = [int(i) for i in stack.shell(code).strip().split(",")]
    created = testing.manage(stack.env, "create_investigator", "loadtester", "--team", "Load")
    token = created.stdout.split("API token:")[1].split()[0]
    return hotels, token


def upload_one(port: int, hotels: list[int], n: int) -> dict:
    fields = {"hotel": hotels[n % len(hotels)], "room_number": str(100 + n % 900)}
    body, content_type = multipart(fields, [("images", f"room{n}.jpg", room_jpeg(n))])
    status, data, seconds = post(port, "/api/submissions/", body, content_type)
    ids = [image["id"] for image in (data or {}).get("images", [])] if status == 201 else []
    return {"status": status, "seconds": seconds, "ids": ids, "body": data}


def search_loop(port: int, token: str, stop: threading.Event, results: list) -> None:
    n = 0
    while not stop.is_set():
        body, content_type = multipart({"k": 5}, [("image", "query.jpg", room_jpeg(10**6 + n))])
        headers = {"Authorization": f"Token {token}"}
        status, data, seconds = post(port, "/api/searches/", body, content_type, headers)
        results.append({"status": status, "seconds": seconds, "body": data})
        n += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def run(args) -> dict:
    started = time.monotonic()
    with ExitStack() as cleanup:
        stack = Stack(args, cleanup)
        hotels, token = setup_data(stack)
        stop_searches = threading.Event()
        searches: list[dict] = []
        searchers = [
            threading.Thread(target=search_loop, args=(stack.port, token, stop_searches, searches))
            for _ in range(args.searchers)
        ]
        for thread in searchers:
            thread.start()
        upload_started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            uploads = list(
                pool.map(lambda n: upload_one(stack.port, hotels, n), range(args.uploads))
            )
        upload_seconds = time.monotonic() - upload_started
        stop_searches.set()
        for thread in searchers:
            thread.join(timeout=180)

        accepted = sorted(i for u in uploads for i in u["ids"] if i)  # null: exact duplicate
        drain_seconds = wait_drained(stack, accepted, started + args.deadline)
        report = verify(stack, uploads, searches, accepted)
        report.update(
            uploads=len(uploads),
            concurrency=args.concurrency,
            database=args.database,
            upload_seconds=round(upload_seconds, 1),
            uploads_per_second=round(len(uploads) / upload_seconds, 2),
            upload_p50_ms=round(1000 * percentile([u["seconds"] for u in uploads], 50)),
            upload_p99_ms=round(1000 * percentile([u["seconds"] for u in uploads], 99)),
            searches=len(searches),
            search_p50_ms=round(1000 * percentile([s["seconds"] for s in searches], 50)),
            search_p99_ms=round(1000 * percentile([s["seconds"] for s in searches], 99)),
            drain_seconds_after_uploads=drain_seconds,
            total_seconds=round(time.monotonic() - started, 1),
        )
        if not report["ok"]:
            report["worker_log_tail"] = (stack.tmp / "worker.log").read_text()[-3000:]
            report["gunicorn_log_tail"] = (stack.tmp / "gunicorn.log").read_text()[-3000:]
        return report


def wait_drained(stack: Stack, accepted: list[str], deadline: float) -> float | None:
    """Seconds until every accepted image is embedded (or failed); None at the deadline."""
    started = time.monotonic()
    while time.monotonic() < deadline:
        waiting = stack.query(
            "SELECT count(*) FROM rooms_roomimage WHERE status IN ('pending', 'embedding')"
        )[0][0]
        if waiting == 0:
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    return None


def verify(stack: Stack, uploads: list[dict], searches: list[dict], accepted: list[str]) -> dict:
    statuses = {}
    for item in uploads:
        statuses[str(item["status"])] = statuses.get(str(item["status"]), 0) + 1
    search_statuses = {}
    for item in searches:
        search_statuses[str(item["status"])] = search_statuses.get(str(item["status"]), 0) + 1
    # Photos are named by their public id (a UUID) in the API's answers.
    rows = dict(
        (image_id, (name, status))
        for image_id, name, status in stack.query(
            "SELECT public_id::text, file, status FROM rooms_roomimage"
        )
    )
    vectors = stack.query("SELECT count(*), count(DISTINCT image_id) FROM matcher_embedding")[0]
    media = Path(stack.env["MEDIA_ROOT"])
    missing_rows = [i for i in accepted if i not in rows]
    missing_files = [i for i in accepted if i in rows and not (media / rows[i][0]).is_file()]
    not_embedded = {i: rows[i][1] for i in accepted if i in rows and rows[i][1] != "embedded"}
    errors_5xx = [u for u in uploads + searches if u["status"] >= 500 or u["status"] == 0]
    checks = {
        "no 5xx or connection error": not errors_5xx,
        "every upload accepted": len(accepted) == len(uploads),
        "every accepted image has its row": not missing_rows,
        "every accepted image has its file": not missing_files,
        "every accepted image embedded": not not_embedded,
        "one vector per image": tuple(vectors) == (len(rows), len(rows)),
        "no row beyond the accepted ones": sorted(rows) == accepted,
    }
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "upload_statuses": statuses,
        "search_statuses": search_statuses,
        "images": len(rows),
        "embeddings": list(vectors),
        "examples_5xx": [e.get("body") for e in errors_5xx[:5]],
        "not_embedded": dict(list(not_embedded.items())[:10]),
    }


def _abort(signum, frame):
    # Raised in the main thread: the ExitStack in run() still stops every process.
    raise TimeoutError(f"load test stopped by signal {signum} (deadline or termination)")


def main(argv=None) -> int:
    args = parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    # Only as a script: under pytest, SIGALRM belongs to pytest-timeout.
    signal.signal(signal.SIGTERM, _abort)
    signal.signal(signal.SIGALRM, _abort)
    signal.alarm(int(parse_args().deadline) + 120)  # the hard stop, should a request hang
    sys.exit(main())
