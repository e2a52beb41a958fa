"""A small run of scripts/loadtest.py: gunicorn, a real worker, Redis and PostgreSQL.

The full run (1000 uploads, figures in docs/benchmarks.md) is the script itself; this
one keeps the script working and the guarantees checked on every CI run.
"""

import importlib.util

import pytest

from traffickcam import testing

pytestmark = pytest.mark.slow


def load_script():
    spec = importlib.util.spec_from_file_location(
        "loadtest", testing.REPO / "scripts" / "loadtest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def postgres_or_skip(loadtest):
    import psycopg

    try:
        psycopg.connect(loadtest.PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        # SQLite locks under concurrent writers: without PostgreSQL the run means nothing.
        pytest.skip(f"PostgreSQL does not answer on 127.0.0.1:5432: {exc}")


def test_small_load_run_loses_nothing(tmp_path, capsys):
    loadtest = load_script()
    postgres_or_skip(loadtest)
    out = tmp_path / "report.json"
    status = loadtest.main(
        ["--uploads", "60", "--concurrency", "8", "--deadline", "240", "--json", str(out)]
    )
    report = __import__("json").loads(out.read_text())
    assert status == 0, report
    assert report["upload_statuses"] == {"201": 60}
    assert report["images"] == 60 and report["embeddings"] == [60, 60]
    assert report["drain_seconds_after_uploads"] is not None
