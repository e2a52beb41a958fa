"""End to end through a real Celery worker: upload via the API, Redis broker, worker embeds.

The pytest database lives in this process's memory, which a worker cannot see, so
this test sets up its own SQLite file database and media folder, shared by three
subprocesses: `migrate`, the worker and an uploader that posts through the API.
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from testsupport import processes as testing

REPO = Path(__file__).resolve().parents[2]
BROKER_DB = 9  # a Redis database nothing else here uses; flushed before the test
BROKER_URL = f"redis://127.0.0.1:6379/{BROKER_DB}"
PHOTOS = 6
EMBED_TIMEOUT_S = 240

pytestmark = pytest.mark.slow

UPLOADER = """
import io, sys
import django
django.setup()
import numpy as np
from PIL import Image
from rest_framework.test import APIClient
from rooms.models import Hotel

hotel = Hotel.objects.create(name="Worker Test Inn", city="Lyon", country_code="FR",
                             latitude=45.76, longitude=4.84, external_ref="WORKER-1")
client = APIClient()
rng = np.random.default_rng(7)
for upload in range(int(sys.argv[1]) // 2):
    files = []
    for n in range(2):
        pixels = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        pixels[:, :, upload % 3] = np.linspace(0, 255, 320, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
        buffer.seek(0)
        buffer.name = f"room{n}.jpg"
        files.append(buffer)
    data = {"hotel": hotel.id, "room_number": str(100 + upload), "images": files}
    response = client.post("/api/submissions/", data, format="multipart")
    assert response.status_code == 201, (response.status_code, response.content)
print("uploaded")
"""


def broker_or_skip() -> redis.Redis:
    client = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but Redis does not answer on 127.0.0.1:6379: {exc}")
        pytest.skip(f"Redis does not answer on 127.0.0.1:6379: {exc}")
    return client


@pytest.fixture
def broker():
    """The real Redis broker, emptied: checked first, before any process is started."""
    client = broker_or_skip()
    client.flushdb()
    yield
    client.flushdb()


@pytest.fixture
def worker_env(broker, tmp_path):
    env = testing.django_env(tmp_path, broker_url=BROKER_URL)
    testing.migrate(env)
    return env, testing.sqlite_path(env)


@pytest.fixture
def worker(worker_env, tmp_path):
    env, _ = worker_env
    log = tmp_path / "worker.log"
    process = testing.start_worker(env, log)
    try:
        yield log
    finally:
        testing.stop_process(process)


def statuses(database: Path) -> list[str]:
    with sqlite3.connect(database, timeout=10) as connection:
        return [row[0] for row in connection.execute("SELECT status FROM rooms_roomimage")]


def test_uploads_are_embedded_by_a_real_worker(worker_env, worker):
    env, database = worker_env

    upload = subprocess.run(
        [sys.executable, "-c", UPLOADER, str(PHOTOS)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert upload.returncode == 0, upload.stderr[-3000:]

    deadline = time.monotonic() + EMBED_TIMEOUT_S
    while time.monotonic() < deadline:
        seen = statuses(database)
        if len(seen) == PHOTOS and set(seen) == {"embedded"}:
            break
        time.sleep(1)
    assert statuses(database) == ["embedded"] * PHOTOS, worker.read_text()[-4000:]

    with sqlite3.connect(database) as connection:
        vectors = connection.execute(
            "SELECT count(*), count(DISTINCT image_id) FROM matcher_embedding"
        )
        assert vectors.fetchone() == (PHOTOS, PHOTOS)
        active = connection.execute("SELECT active_version FROM matcher_indexstate").fetchone()
    assert active and active[0].startswith("efficientnet-lite1:")  # the serving backbone
    assert "matcher.tasks.embed_image" in worker.read_text()
