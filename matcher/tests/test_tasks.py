"""The embed_image task and the stuck-image sweeper, with the real CNN extractor."""

import subprocess
import sys
from datetime import timedelta
from unittest import mock

import numpy as np
import pytest
from django.core.files.storage import FileSystemStorage
from django.db import OperationalError
from django.utils import timezone

from matcher import embedding
from matcher.models import Embedding, IndexState
from matcher.tasks import MAX_RETRIES, embed_image, requeue_stuck_images
from matcher.tests.embedding_factories import make_room_image
from rooms.models import RoomImage

Status = RoomImage.Status
pytestmark = pytest.mark.django_db


def refresh(image) -> RoomImage:
    image.refresh_from_db()
    return image


def test_embeds_a_pending_image_and_activates_its_version(hotel):
    image = make_room_image(hotel)

    assert embed_image.apply(args=[image.id]).get() == "embedded"

    assert refresh(image).status == Status.EMBEDDED
    row = Embedding.objects.get(image=image)
    version = embedding.get_extractor().version_key
    assert row.model_version == version
    vector = row.as_array()
    assert vector.shape == (row.dim,) == (embedding.get_extractor().dim,)
    assert np.linalg.norm(vector) == pytest.approx(1, abs=1e-4)
    assert IndexState.get().active_version == version


def test_the_first_version_stays_active(hotel):
    IndexState.objects.update_or_create(pk=1, defaults={"active_version": "older:v1"})
    image = make_room_image(hotel)

    embed_image.apply(args=[image.id])

    assert IndexState.get().active_version == "older:v1"


def test_claim_is_atomic(hotel):
    image = make_room_image(hotel)

    assert embedding.claim(image.id) is True
    assert embedding.claim(image.id) is False
    assert refresh(image).status == Status.EMBEDDING


def test_a_dead_workers_claim_is_taken_over_after_the_time_limit(hotel, settings):
    image = make_room_image(hotel)
    assert embedding.claim(image.id) is True  # then its worker is SIGKILLed
    recent = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT - 5)
    RoomImage.objects.filter(id=image.id).update(status_changed_at=recent)
    assert embedding.claim(image.id) is False  # it may still be running
    stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)
    RoomImage.objects.filter(id=image.id).update(status_changed_at=stale)

    assert embed_image.apply(args=[image.id]).get() == "embedded"  # the redelivered task
    assert Embedding.objects.filter(image=image).count() == 1


def test_claim_moves_status_changed_at(hotel):
    image = make_room_image(hotel)
    old = timezone.now() - timedelta(hours=1)
    RoomImage.objects.filter(id=image.id).update(status_changed_at=old)

    embedding.claim(image.id)

    assert refresh(image).status_changed_at > old


def test_second_run_is_a_no_op(hotel):
    image = make_room_image(hotel)
    embed_image.apply(args=[image.id])
    first = Embedding.objects.get(image=image)

    assert embed_image.apply(args=[image.id]).get() == "skipped"

    assert list(Embedding.objects.filter(image=image)) == [first]


def test_rerun_after_a_reset_keeps_one_vector(hotel):
    # The sweeper may put an embedded-but-unmarked image back to pending.
    image = make_room_image(hotel)
    embed_image.apply(args=[image.id])
    RoomImage.objects.filter(id=image.id).update(status=Status.PENDING)

    assert embed_image.apply(args=[image.id]).get() == "embedded"

    assert Embedding.objects.filter(image=image).count() == 1


def test_task_running_elsewhere_is_left_alone(hotel):
    image = make_room_image(hotel)
    embedding.claim(image.id)

    assert embed_image.apply(args=[image.id]).get() == "skipped"

    assert refresh(image).status == Status.EMBEDDING
    assert not Embedding.objects.exists()


def test_hidden_image_is_skipped(hotel):
    image = make_room_image(hotel, status=Status.HIDDEN)

    assert embed_image.apply(args=[image.id]).get() == "skipped"

    assert refresh(image).status == Status.HIDDEN
    assert not Embedding.objects.exists()


def test_deleted_image_is_skipped(hotel):
    image = make_room_image(hotel)
    image_id = image.id
    image.delete()

    assert embed_image.apply(args=[image_id]).get() == "skipped"
    assert not Embedding.objects.exists()


def test_image_hidden_while_embedding_is_not_stored(hotel):
    image = make_room_image(hotel)
    extractor = embedding.get_extractor()
    describe = extractor.describe_images

    def moderator_hides_it_meanwhile(*args, **kwargs):
        RoomImage.objects.filter(id=image.id).update(status=Status.HIDDEN)
        return describe(*args, **kwargs)

    with mock.patch.object(extractor, "describe_images", moderator_hides_it_meanwhile):
        assert embed_image.apply(args=[image.id]).get() == "skipped"

    assert refresh(image).status == Status.HIDDEN
    assert not Embedding.objects.exists()


@pytest.mark.parametrize(
    "content",
    [b"this is not an image at all", None],
    ids=["garbage", "truncated-jpeg"],
)
def test_undecodable_file_fails_with_a_reason(hotel, image_bytes, content):
    content = content or image_bytes(size=(400, 300))[:600]
    image = make_room_image(hotel, content=content)

    assert embed_image.apply(args=[image.id]).get() == "failed"

    image = refresh(image)
    assert image.status == Status.FAILED
    assert "cannot decode" in image.status_reason
    assert not Embedding.objects.exists()


def test_storage_error_is_retried(hotel):
    image = make_room_image(hotel)
    real_open = FileSystemStorage._open
    calls = []

    def flaky_open(storage, name, mode="rb"):
        calls.append(name)
        if len(calls) == 1:
            raise OSError("NFS server not responding")
        return real_open(storage, name, mode)

    with mock.patch.object(FileSystemStorage, "_open", flaky_open):
        result = embed_image.apply(args=[image.id])

    assert result.get() == "embedded"
    assert len(calls) == 2
    assert refresh(image).status == Status.EMBEDDED
    assert Embedding.objects.filter(image=image).count() == 1


def test_database_error_is_retried(hotel):
    image = make_room_image(hotel)
    real_claim = embedding.claim
    calls = []

    def flaky_claim(image_id):
        calls.append(image_id)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real_claim(image_id)

    with mock.patch.object(embedding, "claim", flaky_claim):
        assert embed_image.apply(args=[image.id]).get() == "embedded"
    assert len(calls) == 2


def test_retries_release_the_claim_then_give_up(hotel):
    image = make_room_image(hotel)
    statuses = []

    def broken_open(storage, name, mode="rb"):
        statuses.append(RoomImage.objects.get(id=image.id).status)
        raise OSError("bucket unreachable")

    with (
        mock.patch.object(FileSystemStorage, "_open", broken_open),
        mock.patch("matcher.tasks.retry_countdown", return_value=0),
    ):
        assert embed_image.apply(args=[image.id]).get() == "failed"

    # Each attempt claimed the image afresh, so each earlier one had released it.
    assert statuses == [Status.EMBEDDING] * (MAX_RETRIES + 1)
    image = refresh(image)
    assert image.status == Status.FAILED
    assert "bucket unreachable" in image.status_reason


def test_sweeper_requeues_only_stuck_images(hotel, django_capture_on_commit_callbacks):
    long_ago = timezone.now() - timedelta(hours=2)
    stuck_pending = make_room_image(hotel)
    stuck_embedding = make_room_image(hotel, status=Status.EMBEDDING)
    fresh = make_room_image(hotel)
    failed = make_room_image(hotel, status=Status.FAILED)
    RoomImage.objects.exclude(id=fresh.id).update(status_changed_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert requeue_stuck_images.apply().get() == 2

    assert len(callbacks) == 2
    assert refresh(stuck_pending).status == Status.EMBEDDED
    assert refresh(stuck_embedding).status == Status.EMBEDDED
    assert refresh(fresh).status == Status.PENDING
    assert refresh(failed).status == Status.FAILED


def test_sweeper_does_not_requeue_the_same_image_every_run(hotel):
    image = make_room_image(hotel)
    RoomImage.objects.filter(id=image.id).update(
        status_changed_at=timezone.now() - timedelta(hours=2)
    )

    assert embedding.reset_stuck(900) == [image.id]
    assert embedding.reset_stuck(900) == []


def test_web_side_modules_do_not_import_torch():
    code = (
        "import django; django.setup(); "
        "import matcher.tasks, matcher.indexes, matcher.embedding, traffickcam.urls; "
        "import sys; assert 'torch' not in sys.modules, 'torch imported'"
    )
    env = {"DJANGO_SETTINGS_MODULE": "traffickcam.test_settings", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
