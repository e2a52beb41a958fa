"""A small run of scripts/loadtest.py: gunicorn, a real worker, Redis and PostgreSQL.

The full run (1000 uploads, figures in docs/benchmarks.md) is the script itself; this
one keeps the script working and the guarantees checked on every CI run.
"""

import importlib.util
import shutil
import tempfile

import pytest

from testsupport import processes as testing

pytestmark = pytest.mark.slow


def load_script():
    spec = importlib.util.spec_from_file_location(
        "loadtest", testing.REPO / "scripts" / "loadtest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def postgres(monkeypatch):
    """The local PostgreSQL, else a throwaway one from the pgserver wheel.

    SQLite locks under concurrent writers, so without PostgreSQL the run means nothing.
    """
    import psycopg

    loadtest = load_script()
    try:
        psycopg.connect(loadtest.PG_ADMIN_URL, connect_timeout=3).close()
        yield loadtest
        return
    except psycopg.OperationalError:
        pass
    parent = tempfile.mkdtemp(prefix="tc-load-pg-", dir="/tmp")  # the pgserver user reaches it
    try:
        server, url = testing.start_pgvector_server(parent)
    except Exception as exc:
        testing.require_service(f"no PostgreSQL for the load test: {exc}")
    monkeypatch.setattr(loadtest, "PG_ADMIN_URL", url)
    yield loadtest
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


def test_small_load_run_loses_nothing(tmp_path, postgres):
    loadtest = postgres
    out = tmp_path / "report.json"
    status = loadtest.main(
        ["--uploads", "60", "--concurrency", "8", "--deadline", "240", "--json", str(out)]
    )
    report = __import__("json").loads(out.read_text())
    assert status == 0, report
    assert report["upload_statuses"] == {"201": 60}
    assert report["images"] == 60 and report["embeddings"] == [60, 60]
    assert report["drain_seconds_after_uploads"] is not None
