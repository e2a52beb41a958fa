"""`manage.py embed --pending` and `manage.py reembed`, with the real extractor."""

from io import StringIO
from unittest import mock

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import CommandError, call_command

from matcher import embedding
from matcher.models import Embedding, IndexState
from matcher.tests.embedding_factories import (
    add_embedding,
    make_room_image,
    set_active,
    unit_vector,
)
from rooms.models import RoomImage

Status = RoomImage.Status
pytestmark = pytest.mark.django_db
OLD = "older-backbone:0000:gem3-224:d8"


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def statuses(*images) -> list[str]:
    return [RoomImage.objects.get(id=image.id).status for image in images]


@pytest.fixture
def current_version():
    return embedding.get_extractor().version_key


def test_embed_pending_in_batches(hotel, image_bytes):
    good = [make_room_image(hotel, content=image_bytes(color=(c, 90, 40))) for c in (10, 90, 170)]
    broken = make_room_image(hotel, content=b"not a photo")
    hidden = make_room_image(hotel, status=Status.HIDDEN)
    done = make_room_image(hotel, status=Status.EMBEDDED)

    out, err = run("embed", "--pending", "--batch-size", "2")

    assert "3 embedded, 1 failed, 0 skipped" in out
    assert "4/4" in err  # the progress bar
    assert statuses(*good) == [Status.EMBEDDED] * 3
    assert statuses(broken, hidden, done) == [Status.FAILED, Status.HIDDEN, Status.EMBEDDED]
    assert set(Embedding.objects.values_list("image_id", flat=True)) == {i.id for i in good}


def test_embed_leaves_a_batch_pending_on_storage_errors(hotel):
    unreadable, readable = make_room_image(hotel), make_room_image(hotel)
    real_open = FileSystemStorage._open

    def open_all_but_first(storage, name, mode="rb"):
        if name == unreadable.file.name:
            raise OSError("bucket unreachable")
        return real_open(storage, name, mode)

    with mock.patch.object(FileSystemStorage, "_open", open_all_but_first):
        out, err = run("embed", "--pending", "--batch-size", "1")

    assert "1 embedded" in out and "1 left pending" in out
    assert "bucket unreachable" in err
    assert statuses(unreadable, readable) == [Status.PENDING, Status.EMBEDDED]


def test_embed_retry_failed(hotel):
    image = make_room_image(hotel, status=Status.FAILED, status_reason="bucket unreachable")

    out, _ = run("embed", "--pending", "--retry-failed")

    assert "1 embedded" in out
    assert statuses(image) == [Status.EMBEDDED]


def test_embed_limit(hotel):
    images = [make_room_image(hotel) for _ in range(3)]

    run("embed", "--pending", "--limit", "2")

    assert sorted(statuses(*images)) == [Status.EMBEDDED, Status.EMBEDDED, Status.PENDING]


@pytest.mark.parametrize(
    "args, message",
    [((), "--pending"), (("--pending", "--batch-size", "0"), "at least 1")],
)
def test_embed_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        run("embed", *args)


def test_reembed_switches_only_when_complete(hotel, current_version):
    images = [make_room_image(hotel, status=Status.EMBEDDED) for _ in range(3)]
    for seed, image in enumerate(images):
        add_embedding(image, OLD, unit_vector(seed))
    set_active(OLD)
    served_while_running = []
    real = embedding.embed_new_version

    def spy(*args, **kwargs):
        served_while_running.append(IndexState.get().active_version)
        return real(*args, **kwargs)

    with mock.patch.object(embedding, "embed_new_version", spy):
        out, _ = run("reembed", "--batch-size", "2")

    assert served_while_running == [OLD, OLD]
    assert IndexState.get().active_version == current_version
    assert f"search now serves {current_version}" in out
    for image in images:
        versions = set(image.embeddings.values_list("model_version", flat=True))
        assert versions == {OLD, current_version}


def test_reembed_keeps_the_old_version_when_a_photo_fails(hotel, current_version):
    good = make_room_image(hotel, status=Status.EMBEDDED)
    broken = make_room_image(hotel, status=Status.EMBEDDED, content=b"corrupted on disk")
    for image in (good, broken):
        add_embedding(image, OLD, unit_vector(image.id))
    set_active(OLD)

    with pytest.raises(CommandError, match="1 photos still lack"):
        run("reembed")

    assert IndexState.get().active_version == OLD
    assert good.embeddings.filter(model_version=current_version).exists()
    assert statuses(broken) == [Status.EMBEDDED]  # still served under the old version

    run("reembed", "--force", "--delete-old")

    assert IndexState.get().active_version == current_version
    assert not Embedding.objects.filter(model_version=OLD).exists()


def test_reembed_leaves_unsearchable_images_alone(hotel, current_version):
    hidden = make_room_image(hotel, status=Status.HIDDEN)
    pending = make_room_image(hotel)

    run("reembed")

    assert not Embedding.objects.filter(image__in=[hidden, pending]).exists()
    assert IndexState.get().active_version == current_version
