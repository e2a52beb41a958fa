"""Issue 19, findings 5 and 6: the public side leaks nothing.

5. Photos and submissions are addressed by unguessable ids; the anonymous API tells a
   photo's status only, only to the traveller holding the submission's receipt, and
   is throttled.
6. Photos waiting for a moderator, quarantined or hidden are in private storage; a
   photo reaches public media only once approved, and leaves it when hidden (its old
   public URL then answers 404).
"""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from matcher.embedding import read_stored_bytes, stored_files
from rooms import intake
from rooms.models import RoomImage
from rooms.services import image_approve, image_hide
from rooms.tests.test_submissions_api import room_photo

pytestmark = pytest.mark.urls("rooms.tests.media_urls")


@pytest.fixture
def client():
    return APIClient()


def upload(client, hotel, *keys):
    files = [SimpleUploadedFile(f"{k}.jpg", room_photo(k), "image/jpeg") for k in keys]
    response = client.post(
        "/api/submissions/",
        {"hotel": hotel.id, "room_number": "412", "images": files},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- finding 5 ------------------------------------------------------------------------


def test_sequential_image_ids_reveal_nothing(client, hotel):
    upload(client, hotel, "a", "b")
    for image_id in [*RoomImage.objects.values_list("id", flat=True), 1, 2, 3]:
        response = client.get(f"/api/images/{image_id}/")
        assert response.status_code == 404
        assert "Harbour" not in response.content.decode()


def test_public_ids_are_unguessable(client, hotel):
    body = upload(client, hotel, "a")
    assert uuid.UUID(body["id"]).version == 4
    assert uuid.UUID(body["images"][0]["id"]).version == 4
    assert len(body["receipt"]) >= 32


def test_the_receipt_shows_each_photos_status_and_nothing_else(client, hotel):
    body = upload(client, hotel, "a", "b")
    response = APIClient().get(f"/api/submissions/{body['receipt']}/")  # a new client
    assert response.status_code == 200
    status = response.json()
    assert set(status) == {"id", "images"}
    assert [set(i) for i in status["images"]] == [{"id", "status"}] * 2
    assert {i["id"] for i in status["images"]} == {i["id"] for i in body["images"]}
    text = response.content.decode()
    for secret in ("Harbour", "412", "hotel", "room", "created", "submission", "url"):
        assert secret not in text
    assert "no-store" in response["Cache-Control"]


def test_status_follows_moderation_without_saying_why(client, hotel, monkeypatch):
    monkeypatch.setattr(intake, "detect_person", lambda image: "face detected")
    body = upload(client, hotel, "a")
    status_url = f"/api/submissions/{body['receipt']}/"
    assert client.get(status_url).json()["images"][0]["status"] == "in_review"
    assert "face" not in client.get(status_url).content.decode()
    image_hide(RoomImage.objects.get())
    assert client.get(status_url).json()["images"][0]["status"] == "removed"


@pytest.mark.parametrize("receipt", ["nope", "1", "x" * 32])
def test_a_wrong_receipt_is_404(client, hotel, receipt):
    upload(client, hotel, "a")
    assert client.get(f"/api/submissions/{receipt}/").status_code == 404


def test_the_status_api_is_throttled(client, hotel, settings):
    settings.RECEIPT_RATE = "3/hour"
    body = upload(client, hotel, "a")
    codes = [client.get(f"/api/submissions/{body['receipt']}/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


# --- finding 6 ------------------------------------------------------------------------


def test_clean_photo_is_public_and_its_url_answers(client, hotel):
    upload(client, hotel, "a")
    image = RoomImage.objects.get()
    assert image.is_public
    assert client.get(image.file.url).status_code == 200
    assert client.get(image.thumbnail_url).status_code == 200


def test_hidden_photo_leaves_public_media(
    client, hotel, settings, django_capture_on_commit_callbacks
):
    upload(client, hotel, "a")
    image = RoomImage.objects.get()
    old_urls = [image.file.url, image.thumbnail_url]
    assert [client.get(url).status_code for url in old_urls] == [200, 200]
    with django_capture_on_commit_callbacks(execute=True):
        image_hide(image)
    assert [client.get(url).status_code for url in old_urls] == [404, 404]
    image.refresh_from_db()
    assert not image.is_public and image.thumbnail_url is None
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
    assert image.stored_bytes()  # kept privately, for moderators


def test_held_photo_is_private_until_approved(
    client, hotel, settings, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(intake, "detect_person", lambda image: "face detected")
    upload(client, hotel, "a")
    image = RoomImage.objects.get()
    assert not image.is_public and image.thumbnail_url is None
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
    private = [p for p in settings.PRIVATE_MEDIA_ROOT.rglob("*") if p.is_file()]
    assert len(private) == 2  # the photo and its thumbnail
    assert client.get(f"/media/{image.file.name}").status_code == 404
    assert client.get(f"/media/{image.file.name.removeprefix('private/')}").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        image_approve(image)
    image.refresh_from_db()
    assert image.is_public and client.get(image.file.url).status_code == 200
    assert not [p for p in settings.PRIVATE_MEDIA_ROOT.rglob("*") if p.is_file()]


def test_embedding_workers_read_private_photos(client, hotel, monkeypatch):
    """A held photo is still embedded (it is matched once approved): the workers'
    storage-agnostic reads find it in private storage."""
    monkeypatch.setattr(intake, "detect_person", lambda image: "face detected")
    upload(client, hotel, "a")
    image = RoomImage.objects.get()
    names = stored_files([image.id], RoomImage.Status.PENDING)
    assert names == {image.id: image.thumbnail.name} and names[image.id].startswith("private/")
    assert read_stored_bytes(names[image.id]) == image.stored_bytes()


def test_privatise_command_moves_photos_held_before_the_change(client, hotel, settings):
    from django.core.management import call_command

    from rooms import storage

    upload(client, hotel, "a")
    image = RoomImage.objects.get()
    # As before this change: a held photo's files in public media.
    RoomImage.objects.filter(pk=image.pk).update(flagged_reason="face detected")
    call_command("privatise_held_photos")
    image.refresh_from_db()
    assert storage.is_private(image.file.name) and storage.is_private(image.thumbnail.name)
    assert image.stored_bytes()
