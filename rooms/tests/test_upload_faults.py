"""Uploads when something fails after the commit: the committed photos must survive.

Real commits (transactional tests), so the on_commit hooks run as in production.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from kombu.exceptions import OperationalError as BrokerDown

from rooms.models import RoomImage

pytestmark = pytest.mark.django_db(transaction=True)


def stored_files(settings) -> set[str]:
    root = settings.MEDIA_ROOT
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def upload(client, hotel, image_bytes):
    photo = SimpleUploadedFile("a.jpg", image_bytes(), content_type="image/jpeg")
    return client.post(
        "/api/submissions/", {"hotel": hotel.id, "room_number": "7", "images": [photo]}
    )


def test_broker_down_after_commit_is_a_201_and_the_photo_waits_pending(
    client, hotel, image_bytes, settings, monkeypatch
):
    from matcher import tasks

    def broker_down(image_id):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.embed_image, "delay", broker_down)
    response = upload(client, hotel, image_bytes)
    assert response.status_code == 201, response.content
    image = RoomImage.objects.get()
    assert image.status == RoomImage.Status.PENDING  # the stuck-image sweeper enqueues it
    assert image.file.name in stored_files(settings)
    assert stored_files(settings) == {image.file.name, image.thumbnail.name} - {""}


def test_error_after_commit_keeps_the_committed_files(hotel, image_bytes, settings, monkeypatch):
    from django.db import transaction

    from rooms import services

    def failing_hook(image_id):
        raise RuntimeError("a non-robust hook failed after the commit")

    # Not robust, unlike the real enqueue: the error reaches submission_create.
    on_commit = transaction.on_commit
    monkeypatch.setattr(
        transaction, "on_commit", lambda func, using=None, robust=False: on_commit(func, using)
    )
    monkeypatch.setattr(services, "_enqueue_embedding", failing_hook)
    photo = SimpleUploadedFile("a.jpg", image_bytes(), content_type="image/jpeg")
    with pytest.raises(RuntimeError, match="after the commit"):
        services.submission_create(hotel=hotel, room_number="7", files=[photo])
    image = RoomImage.objects.get()  # committed before the hook ran
    assert image.file.name in stored_files(settings)


def test_error_before_commit_leaves_no_file(hotel, image_bytes, settings, monkeypatch):
    from rooms import services

    def fail(*args, **kwargs):
        raise RuntimeError("database gone mid-upload")

    monkeypatch.setattr(services, "_nearest", fail)  # after nothing, before the 2nd photo
    first = SimpleUploadedFile("a.jpg", image_bytes(color=(1, 2, 3)), content_type="image/jpeg")
    second = SimpleUploadedFile("b.jpg", image_bytes(color=(9, 9, 9)), content_type="image/jpeg")
    with pytest.raises(RuntimeError, match="mid-upload"):
        services.submission_create(hotel=hotel, room_number="7", files=[first, second])
    assert not RoomImage.objects.exists() and stored_files(settings) == set()
