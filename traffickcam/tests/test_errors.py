"""traffickcam/exceptions.py: one JSON error shape, and 503 (not 500) during an outage."""

import pytest
from rest_framework.exceptions import ValidationError

from testsupport import processes as testing
from traffickcam.exceptions import error_body


def test_validation_errors_get_a_detail_and_keep_their_fields():
    body = error_body(ValidationError({"mask": ["mask is 10x10"], "k": ["too big"]}).detail, 400)
    assert body["detail"] == "Invalid request. mask: mask is 10x10 (and 1 more)"
    assert body["errors"] == [
        {"field": "mask", "reason": "mask is 10x10"},
        {"field": "k", "reason": "too big"},
    ]
    assert body["mask"] == ["mask is 10x10"]  # DRF's shape, for existing clients


def test_non_field_errors_and_lists_get_a_detail():
    assert error_body(["nope"], 400) == {
        "detail": "Invalid request. nope",
        "errors": [{"reason": "nope"}],
    }
    assert error_body({"detail": "Not found."}, 404) == {"detail": "Not found."}


@pytest.fixture
def cache_down(settings):
    """The Redis cache (rate-limit counters) on a port where nothing listens."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{testing.free_port()}/0",
        }
    }


def test_api_upload_with_redis_down_is_a_json_503(cache_down, client, hotel, image_bytes, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rooms.models import RoomImage

    photo = SimpleUploadedFile("a.jpg", image_bytes(), content_type="image/jpeg")
    response = client.post(
        "/api/submissions/", {"hotel": hotel.id, "room_number": "1", "images": [photo]}
    )
    assert response.status_code == 503 and response["Retry-After"]
    assert "temporarily unavailable" in response.json()["detail"]
    assert not RoomImage.objects.exists() and not any(settings.MEDIA_ROOT.rglob("*.jpg"))


def test_upload_page_with_redis_down_is_a_503_not_a_500(cache_down, client, hotel, image_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    photo = SimpleUploadedFile("a.jpg", image_bytes(), content_type="image/jpeg")
    client.raise_request_exception = False
    response = client.post("/", {"hotel": hotel.id, "room_number": "1", "images": [photo]})
    assert response.status_code == 503 and response["Retry-After"]
    assert b"temporarily unavailable" in response.content
