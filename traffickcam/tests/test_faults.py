"""Injected faults, with real processes: nothing accepted is ever lost.

- the Celery worker is SIGKILLed in the middle of its work, several times: every
  image still ends `embedded`, with exactly one vector;
- Redis (broker and cache) dies during uploads and comes back empty: each upload is
  either refused with a JSON 503 (nothing stored) or accepted and later embedded;
- an upload process is SIGKILLed after writing its file, before committing its row:
  no row is left, and the orphan sweep deletes the file.

Each test has its own redis-server on a free port, SQLite file database and media
folder (testsupport/processes.py); the shared Redis on 6379 is never touched.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testsupport import processes as testing

pytestmark = pytest.mark.slow

EMBED_TIMEOUT_S = 150

# Uploads through the real API stack (middleware, DRF, throttle, service) in its own
# process; one JSON line per answer. Stops after --count uploads or when --stop exists.
UPLOADER = r"""
import argparse, io, json, os, sys
import django
django.setup()
import numpy as np
from django.test import Client
from PIL import Image
from rooms.models import Hotel

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=0)
parser.add_argument("--photos", type=int, default=1)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--stop", default="")
parser.add_argument("--out", required=True)
args = parser.parse_args()

hotel, _ = Hotel.objects.get_or_create(external_ref="FAULT-1", defaults=dict(
    name="Fault Inn", city="Lyon", country_code="FR", latitude=45.76, longitude=4.84))
client = Client(raise_request_exception=False)
rng = np.random.default_rng(args.seed)
sent = 0
with open(args.out, "a") as out:
    while (args.count == 0 or sent < args.count) and not (args.stop and os.path.exists(args.stop)):
        files = []
        for n in range(args.photos):
            buffer = io.BytesIO()
            pixels = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
            buffer.seek(0)
            buffer.name = f"room{n}.jpg"
            files.append(buffer)
        response = client.post("/api/submissions/", {
            "hotel": hotel.id, "room_number": str(100 + sent), "images": files})
        try:
            body = response.json()
        except ValueError:
            body = {"not_json": response.content[:200].decode("latin-1")}
        ids = [image["id"] for image in body.get("images", [])]
        out.write(json.dumps({"status": response.status_code, "ids": ids, "body": body}) + "\n")
        out.flush()
        sent += 1
"""


def run_uploader(env, out: Path, *args: str, timeout: float = 120):
    command = [sys.executable, "-c", UPLOADER, "--out", str(out), *args]
    return subprocess.run(
        command, cwd=testing.REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def answers(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def wait_worker_ready(log: Path, starts: int, timeout: float = 90) -> None:
    testing.wait_for(
        lambda: log.read_text(errors="replace").count(" ready.") >= starts,
        timeout,
        what=f"worker start #{starts} (log {log})",
    )


def wait_all_embedded(database: Path, expected: set[int], log: Path) -> None:
    def done():
        statuses = testing.image_statuses(database)
        return set(statuses) == expected and set(statuses.values()) == {"embedded"}

    try:
        testing.wait_for(done, EMBED_TIMEOUT_S, interval=0.5, what="every image embedded")
    except TimeoutError:
        statuses = testing.image_statuses(database)
        pytest.fail(f"not all embedded: {statuses}\n{log.read_text(errors='replace')[-4000:]}")


def assert_one_vector_each(database: Path, expected: set[int]) -> None:
    rows = testing.sql(database, "SELECT image_id, model_version FROM matcher_embedding")
    assert sorted(image_id for image_id, _ in rows) == sorted(expected)  # no duplicates
    assert len({version for _, version in rows}) == 1


@pytest.fixture
def redis_server(tmp_path):
    server = testing.redis_server_or_skip(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(redis_server, tmp_path):
    """Environment for processes sharing one database, the private broker, sweepers fast."""
    env = testing.django_env(
        tmp_path,
        broker_url=redis_server.url(0),
        CELERY_VISIBILITY_TIMEOUT=25,  # redelivery of a dead worker's task within the test
        CELERY_TASK_SOFT_TIME_LIMIT=15,
        CELERY_TASK_TIME_LIMIT=20,
        EMBED_STUCK_AFTER_SECONDS=10,  # the minimum the settings allow
        EMBED_SWEEP_EVERY_SECONDS=3,
    )
    testing.migrate(env)
    processes = []

    def worker():
        log = tmp_path / "worker.log"
        process = testing.start_worker(env, log, beat=True)
        processes.append(process)
        return process, log

    yield env, testing.sqlite_path(env), worker
    for process in processes:
        testing.stop_process(process)


def pool_children(process) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def test_worker_sigkilled_mid_batch_still_embeds_every_image_once(stack, tmp_path):
    env, database, start_worker = stack
    uploaded = run_uploader(env, tmp_path / "up.jsonl", "--count", "8", "--photos", "2")
    assert uploaded.returncode == 0, uploaded.stderr[-3000:]
    named = {i for a in answers(tmp_path / "up.jsonl") for i in a["ids"]}
    accepted = testing.internal_ids(database, named)
    assert len(named) == len(accepted) == 16

    kills_mid_task = 0
    for kill in range(3):
        process, log = start_worker()
        wait_worker_ready(log, kill + 1)
        # Kill at the moment a task holds a claimed image: the worst time.
        testing.wait_for(
            lambda: "embedding" in testing.image_statuses(database).values(),
            60,
            interval=0.02,
            what="an image being embedded",
        )
        if kill == 1:  # only the pool process that runs the task, as the OOM killer would
            for pid in pool_children(process):
                os.kill(pid, signal.SIGKILL)
            time.sleep(1)
            testing.kill_process(process)
        else:  # the whole worker at once: nothing is acknowledged or released
            testing.kill_process(process)
        kills_mid_task += "embedding" in testing.image_statuses(database).values()

    assert kills_mid_task >= 1  # the faults hit claimed work, not an idle worker
    stuck = sum(s == "embedding" for s in testing.image_statuses(database).values())
    _, log = start_worker()
    wait_all_embedded(database, accepted, log)
    assert_one_vector_each(database, accepted)
    print(f"\nworker faults: 3 SIGKILLs, {kills_mid_task} mid-task, {stuck} claims left stuck;")
    print(f"{len(accepted)} images, all embedded, {len(accepted)} vectors")


def test_redis_outage_during_uploads_loses_nothing(stack, redis_server, tmp_path):
    env, database, start_worker = stack
    _, log = start_worker()
    wait_worker_ready(log, 1)
    # Uploader A keeps its rate-limit counters in this Redis too (production layout).
    env_cache = {**env, "REDIS_CACHE_URL": redis_server.url(1)}
    out_a, stop_a = tmp_path / "a.jsonl", tmp_path / "stop-a"
    command = [sys.executable, "-c", UPLOADER, "--out", str(out_a), "--stop", str(stop_a)]
    uploader_a = testing.start_process(command, env=env_cache, log=tmp_path / "a.log")
    try:
        testing.wait_for(lambda: len(answers(out_a)) >= 3, 60, what="uploads before the outage")
        redis_server.stop()  # broker and cache gone, queued messages lost with them
        during = len(answers(out_a))
        testing.wait_for(lambda: len(answers(out_a)) >= during + 3, 30, what="outage uploads")
        # Uploader B has a local cache: only the enqueue after commit meets the outage.
        out_b = tmp_path / "b.jsonl"
        uploaded = run_uploader(env, out_b, "--count", "3", "--seed", "1")
        assert uploaded.returncode == 0, uploaded.stderr[-3000:]
        redis_server.start()
        after = len(answers(out_a))
        testing.wait_for(lambda: len(answers(out_a)) >= after + 3, 60, what="uploads after")
    finally:
        stop_a.touch()
        uploader_a.wait(timeout=60)

    results = answers(out_a) + answers(out_b)
    assert {r["status"] for r in results} <= {201, 503}, [r for r in results if r["status"] != 201]
    refused = [r for r in answers(out_a) if r["status"] == 503]
    assert refused, "the outage refused nothing: it was not observed"
    assert all("unavailable" in r["body"]["detail"] for r in refused)
    assert [r["status"] for r in answers(out_b)] == [201, 201, 201]  # kept, enqueue failed

    accepted = testing.internal_ids(database, {i for r in results for i in r["ids"]})
    wait_all_embedded(database, accepted, log)  # B's images: by the stuck-image sweeper
    assert_one_vector_each(database, accepted)
    stored = testing.stored_names(database)
    assert testing.media_files(env["MEDIA_ROOT"]) == stored  # refused uploads left no file
    print(
        f"\nredis outage: {len(results)} uploads, {len(refused)} refused with 503, "
        f"{len(accepted)} accepted (3 during the outage) and all embedded"
    )


# An upload that dies between writing its photo and committing its row.
CRASHING_UPLOAD = r"""
import io, sys, time
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rooms import services
from rooms.models import Hotel

hotel = Hotel.objects.create(external_ref="CRASH-1", name="Crash Inn", city="Oslo",
                             country_code="NO", latitude=59.9, longitude=10.7)

def photo(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return SimpleUploadedFile("room.jpg", buffer.getvalue())

services.submission_create(hotel=hotel, room_number="1", files=[photo((200, 10, 10))])
create = services._image_create

def create_then_hang(*args, **kwargs):
    image = create(*args, **kwargs)  # file written, row saved, transaction still open
    names = [image.file.name, getattr(image, "thumbnail", None) and image.thumbnail.name]
    print("WRITTEN", *filter(None, names), flush=True)
    time.sleep(120)

services._image_create = create_then_hang
services.submission_create(hotel=hotel, room_number="2", files=[photo((10, 10, 200))])
"""


def test_upload_killed_mid_write_leaves_no_row_and_its_file_is_swept(tmp_path):
    env = testing.django_env(tmp_path)
    testing.migrate(env)
    database = testing.sqlite_path(env)
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_UPLOAD], cwd=testing.REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("WRITTEN "), process.stderr.read()[-3000:]
    finally:
        testing.kill_process(process)
    half_written = set(line.split()[1:])
    assert all((Path(env["MEDIA_ROOT"]) / name).is_file() for name in half_written)

    kept = testing.stored_names(database)
    assert kept and not half_written & kept  # the killed upload left no row
    assert testing.sql(database, "SELECT room_number FROM rooms_submission") == [("1",)]
    assert testing.media_files(env["MEDIA_ROOT"]) == kept | half_written

    young = testing.manage(env, "sweep_orphans")  # default age: still too young to delete
    assert "0 orphan files deleted" in young.stdout
    swept = testing.manage(env, "sweep_orphans", "--older-than", "0")
    assert all(f"deleted {name}" in swept.stdout for name in half_written)
    assert testing.media_files(env["MEDIA_ROOT"]) == kept
