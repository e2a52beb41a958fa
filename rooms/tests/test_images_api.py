"""GET /api/images/{id}/, and how moderation (hide, clear flag) changes what it shows."""

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from conftest import make_image_bytes
from rooms.models import RoomImage, Submission
from rooms.services import image_clear_flag, image_hide

PRIVATE_FIELDS = {"sha256", "phash", "camera_model", "captured_at", "flagged_reason"}


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def room_image(hotel):
    submission = Submission.objects.create(hotel=hotel, room_number="412")
    image = RoomImage(
        submission=submission,
        sha256="a" * 64,
        phash="0f0f0f0f0f0f0f0f",
        camera_model="Pixel 9",
        status=RoomImage.Status.EMBEDDED,
    )
    image.file.save("x.jpg", ContentFile(make_image_bytes(), name="x.jpg"), save=False)
    image.save()
    return image


def get(client, image_id):
    return client.get(f"/api/images/{image_id}/")


def test_image_shows_status_and_url(client, room_image, hotel):
    response = get(client, room_image.id)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == room_image.id and body["status"] == "embedded"
    assert body["url"] == f"http://testserver{room_image.file.url}"
    assert (body["width"], body["height"]) == (64, 48)
    assert body["hotel"] == hotel.id and body["room_number"] == "412"
    assert body["held_for_review"] is False


def test_private_fields_are_never_shown(client, room_image):
    room_image.flagged_reason = "face detected"
    room_image.save()
    body = get(client, room_image.id).json()
    assert not PRIVATE_FIELDS & set(body)
    assert "Pixel 9" not in str(body) and "face detected" not in str(body)


def test_flagged_image_has_no_url_until_cleared(client, room_image):
    room_image.flagged_reason = "face detected"
    room_image.save()
    body = get(client, room_image.id).json()
    assert body["held_for_review"] is True and body["url"] is None

    image_clear_flag(room_image)
    room_image.refresh_from_db()
    assert room_image.flagged_reason == ""
    body = get(client, room_image.id).json()
    assert body["held_for_review"] is False and body["url"]


def test_hidden_image_shows_its_status_but_no_url(client, room_image):
    image_hide(room_image, reason="not a hotel room")
    room_image.refresh_from_db()
    assert room_image.status == RoomImage.Status.HIDDEN
    assert room_image.status_reason == "not a hotel room"
    body = get(client, room_image.id).json()
    assert body["status"] == "hidden" and body["url"] is None


def test_hiding_without_reason_records_the_moderator(room_image):
    assert image_hide(room_image).status_reason == "hidden by a moderator"


def test_unknown_image_is_404(client, db):
    response = get(client, 999_999)
    assert response.status_code == 404
    assert response.json()["detail"]


def test_images_cannot_be_changed_through_the_api(client, room_image):
    response = client.patch(f"/api/images/{room_image.id}/", {"status": "embedded"})
    assert response.status_code == 405
