"""POST /api/submissions/: traveller uploads, refusals, duplicates and rate limits."""

import io
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from conftest import make_image_bytes
from demo import images as demo_images
from rooms import intake
from rooms.models import Hotel, RoomImage, Submission
from rooms.tests.test_intake import exif_jpeg, png_declaring

URL = "/api/submissions/"


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def other_hotel(db):
    return Hotel.objects.create(
        name="Airport Lodge",
        city="Portland",
        country_code="US",
        latitude=45.58,
        longitude=-122.59,
        external_ref="AL-001",
    )


def photo(data: bytes | None = None, name="room.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, make_image_bytes() if data is None else data, content_type)


def truncated_jpeg() -> bytes:
    data = make_image_bytes(size=(256, 256))
    return data[: len(data) * 2 // 3]


def room_photo(key="a", view=0, fmt="JPEG", size=(640, 480), **save_kwargs) -> bytes:
    buffer = io.BytesIO()
    demo_images.photo(demo_images.style_for(key, key), view, size=size).save(
        buffer, fmt, **save_kwargs
    )
    return buffer.getvalue()


def submit(client, hotel_id, *images, room_number="412", **extra):
    data = {"hotel": hotel_id, "room_number": room_number, "images": list(images)}
    return client.post(URL, data, format="multipart", **extra)


def media_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def assert_nothing_stored(settings):
    assert not Submission.objects.exists()
    assert not RoomImage.objects.exists()
    assert media_files(settings) == []


def stored_bytes(url: str, settings) -> bytes:
    name = urlparse(url).path.removeprefix(default_storage.base_url)
    with default_storage.open(name) as stored:
        return stored.read()


def image_of(item: dict) -> RoomImage:
    """The stored photo an item of the 201 answer stands for (by its public id)."""
    return RoomImage.objects.get(public_id=item["id"])


def served_bytes(item: dict, settings) -> bytes:
    return stored_bytes(image_of(item).file.url, settings)


def test_upload_creates_a_submission_with_its_photos(client, hotel, settings):
    response = submit(client, hotel.id, photo(room_photo("a")), photo(room_photo("b")))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "receipt", "images"}  # status only: no hotel, room or URL
    assert [i["status"] for i in body["images"]] == ["received", "received"]
    assert not any(i["duplicate"] for i in body["images"])
    submission = Submission.objects.get(public_id=body["id"])
    assert submission.hotel == hotel and submission.room_number == "412"
    ids = {str(i.public_id) for i in submission.images.all()}
    assert ids == {i["id"] for i in body["images"]}
    assert len(media_files(settings)) == 4  # each photo and its 512 px thumbnail
    for image in submission.images.all():
        assert max(image.thumbnail.width, image.thumbnail.height) <= 512
        assert image.is_public and image.file.url.startswith("/media/rooms/")


@pytest.mark.parametrize(
    "fmt,name,save_kwargs",
    [("PNG", "a.png", {}), ("WEBP", "a.webp", {}), ("HEIF", "a.heic", {"quality": 90})],
)
def test_png_webp_and_heic_are_accepted(client, hotel, settings, fmt, name, save_kwargs):
    data = make_image_bytes(fmt, size=(120, 90), **save_kwargs)
    response = submit(client, hotel.id, photo(data, name, f"image/{fmt.lower()}"))
    assert response.status_code == 201, response.json()
    stored = Image.open(io.BytesIO(served_bytes(response.json()["images"][0], settings)))
    assert stored.format == "JPEG" and stored.size == (120, 90)


def test_served_photo_has_no_exif_and_is_upright(client, hotel, settings):
    response = submit(client, hotel.id, photo(exif_jpeg(size=(64, 48), orientation=6)))
    assert response.status_code == 201
    content = served_bytes(response.json()["images"][0], settings)
    stored = Image.open(io.BytesIO(content))
    assert stored.size == (48, 64)
    assert len(stored.getexif()) == 0 and "exif" not in stored.info
    assert b"Exif" not in content and b"GPS" not in content
    image = RoomImage.objects.get()
    assert image.camera_model == "Pixel 9" and image.captured_at.year == 2024
    assert (image.width, image.height) == (48, 64)


def refused(response, status=400) -> list[dict]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["detail"]
    return body["errors"]


@pytest.mark.parametrize(
    "data,name,reason",
    [
        (b"plain text, not an image", "notes.txt", "not a recognised image"),
        (make_image_bytes("GIF"), "x.gif", "unsupported format GIF"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "x.jpg", "not a recognised"),
        (b"<html><script>alert(1)</script></html>", "x.jpg", "not a recognised image"),
        (truncated_jpeg(), "cut.jpg", "image is truncated or corrupt"),
        (b"", "empty.jpg", "file is empty"),
        (png_declaring(100_000, 100_000), "bomb.png", "megapixel limit"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_kept(client, hotel, settings, data, name, reason):
    # A good photo alongside: it must not be stored either.
    response = submit(client, hotel.id, photo(), photo(data, name))
    errors = refused(response)
    assert len(errors) == 1
    assert errors[0]["file"] == name and reason in errors[0]["reason"]
    assert_nothing_stored(settings)


def test_oversize_file_is_413(client, hotel, settings):
    settings.UPLOAD_MAX_BYTES = 4000
    response = submit(client, hotel.id, photo(b"\xff\xd8" + b"\0" * 5000, "huge.jpg"))
    errors = refused(response, 413)
    reason = "file is larger than the 4000 byte upload limit"
    assert errors == [{"file": "huge.jpg", "reason": reason}]
    assert_nothing_stored(settings)


def test_pixel_bomb_is_400(client, hotel, settings):
    settings.UPLOAD_MAX_PIXELS = 10_000
    response = submit(client, hotel.id, photo(png_declaring(5000, 5000), "bomb.png"))
    errors = refused(response)
    assert errors[0]["file"] == "bomb.png" and "megapixel limit" in errors[0]["reason"]
    assert_nothing_stored(settings)


def test_five_photos_are_refused(client, hotel, settings):
    images = [photo(make_image_bytes(color=(i * 40, 10, 10))) for i in range(5)]
    errors = refused(submit(client, hotel.id, *images))
    assert errors == [{"field": "images", "reason": "too many photos: send at most 4"}]
    assert_nothing_stored(settings)


def test_no_photos_are_refused(client, hotel, settings):
    errors = refused(submit(client, hotel.id))
    assert errors == [{"field": "images", "reason": "send 1 to 4 photos in the 'images' field"}]
    assert_nothing_stored(settings)


def test_unknown_hotel_is_refused(client, hotel, settings):
    errors = refused(submit(client, hotel.id + 999, photo()))
    assert errors == [{"field": "hotel", "reason": f'unknown hotel "{hotel.id + 999}"'}]
    assert_nothing_stored(settings)


@pytest.mark.parametrize(
    "room_number,reason",
    [("", "room number is empty"), ("   ", "room number is empty"), ("1" * 21, "too long")],
)
def test_bad_room_number_is_refused(client, hotel, settings, room_number, reason):
    errors = refused(submit(client, hotel.id, photo(), room_number=room_number))
    assert errors[0]["field"] == "room_number" and reason in errors[0]["reason"]
    assert_nothing_stored(settings)


def test_exact_duplicate_is_not_stored_twice(client, hotel, settings):
    data = room_photo("a")
    first = submit(client, hotel.id, photo(data)).json()["images"][0]
    second = submit(client, hotel.id, photo(data, "again.jpg"))
    assert second.status_code == 201
    again = second.json()["images"][0]
    # Not stored again, and nothing of the earlier photo (its id, its state) is told.
    assert again == {"id": None, "status": "duplicate", "duplicate": True}
    assert first["id"] and RoomImage.objects.count() == 1 and len(media_files(settings)) == 2


def test_same_file_twice_in_one_upload_is_stored_once(client, hotel, settings):
    data = room_photo("a")
    body = submit(client, hotel.id, photo(data), photo(data)).json()
    assert [i["duplicate"] for i in body["images"]] == [False, True]
    assert body["images"][1]["id"] is None
    assert RoomImage.objects.count() == 1 and len(media_files(settings)) == 2


def test_near_duplicate_is_stored_and_linked(client, hotel):
    original = submit(client, hotel.id, photo(room_photo("a", quality=95))).json()["images"][0]
    response = submit(client, hotel.id, photo(room_photo("a", size=(600, 450), quality=70)))
    image = response.json()["images"][0]
    assert image["duplicate"] is False and set(image) == {"id", "status", "duplicate"}
    stored = image_of(image)
    assert stored.near_duplicate_of == image_of(original)
    assert stored.flagged_reason == "" and image["status"] == "received"  # same hotel: fine


def test_different_rooms_are_not_near_duplicates(client, hotel):
    submit(client, hotel.id, photo(room_photo("a")))
    image = submit(client, hotel.id, photo(room_photo("b"))).json()["images"][0]
    assert image_of(image).near_duplicate_of is None


def test_photo_showing_a_person_is_held_for_review(client, hotel, monkeypatch):
    monkeypatch.setattr(intake, "detect_person", lambda image: "face detected")
    image = submit(client, hotel.id, photo()).json()["images"][0]
    assert image["status"] == "in_review"
    assert "face" not in str(image)
    stored = image_of(image)
    assert stored.flagged_reason == "face detected" and not stored.is_public


def test_embedding_is_enqueued_after_commit(
    client, hotel, monkeypatch, django_capture_on_commit_callbacks
):
    from matcher import tasks

    queued = []
    monkeypatch.setattr(tasks.embed_image, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        body = submit(client, hotel.id, photo(room_photo("a")), photo(room_photo("b"))).json()
    assert queued == []  # nothing is sent while the transaction is open
    for callback in callbacks:
        callback()
    assert queued == [image_of(i).id for i in body["images"]]  # the int id, internally


def test_duplicates_are_not_embedded_again(
    client, hotel, monkeypatch, django_capture_on_commit_callbacks
):
    from matcher import tasks

    monkeypatch.setattr(tasks.embed_image, "delay", lambda image_id: None)
    data = room_photo("a")
    submit(client, hotel.id, photo(data))
    with django_capture_on_commit_callbacks() as callbacks:
        submit(client, hotel.id, photo(data))
    assert callbacks == []


def test_rate_limit_per_client_address(client, hotel, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "uploads": "2/hour"},
    }
    for _ in range(3):  # looking is free
        assert client.get(URL, HTTP_ACCEPT="text/html").status_code == 405
    for _ in range(2):  # refused uploads count: the quota is on attempts
        assert submit(client, hotel.id, photo(b"not an image")).status_code == 400
    response = submit(client, hotel.id, photo())
    assert response.status_code == 429
    assert response.json()["detail"].startswith("Too many uploads from this address.")
    assert int(response["Retry-After"]) > 0
    # A forged X-Forwarded-For does not buy a fresh quota; another address has its own.
    spoofed = submit(client, hotel.id, photo(), HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert spoofed.status_code == 429
    elsewhere = submit(client, hotel.id, photo(), REMOTE_ADDR="198.51.100.7")
    assert elsewhere.status_code == 201


def fail_on_call(monkeypatch, cls, method: str, call: int):
    original = getattr(cls, method)
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, failing)


def test_failure_writing_the_second_file_leaves_nothing(client, hotel, settings, monkeypatch):
    fail_on_call(monkeypatch, FileSystemStorage, "_save", call=2)
    with pytest.raises(OSError, match="disk full"):
        submit(client, hotel.id, photo(room_photo("a")), photo(room_photo("b")))
    assert_nothing_stored(settings)


def test_failure_after_both_files_were_written_leaves_nothing(client, hotel, settings, monkeypatch):
    fail_on_call(monkeypatch, RoomImage, "save", call=2)
    with pytest.raises(OSError, match="disk full"):
        submit(client, hotel.id, photo(room_photo("a")), photo(room_photo("b")))
    assert_nothing_stored(settings)


def test_schema_documents_the_multipart_upload(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    operation = response.json()["paths"]["/api/submissions/"]["post"]
    content = operation["requestBody"]["content"]
    assert list(content) == ["multipart/form-data"]
    schema_ref = content["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = response.json()["components"]["schemas"][schema_ref]["properties"]
    assert fields["images"]["items"]["format"] == "binary"
    assert {"201", "400", "413", "429"} <= set(operation["responses"])


def test_browsable_api_renders(client):
    response = client.get(URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 405  # POST only, but browsable for humans
    assert response["Content-Type"].startswith("text/html")
    assert b"Upload 1 to 4 photos of one hotel room." in response.content


@pytest.mark.parametrize(
    "remote_addr,key",
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),  # one host usually holds a whole /64
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("", "unknown"),
    ],
)
def test_rate_limit_key_is_the_client_network(rf, remote_addr, key):
    from traffickcam.client import client_network

    request = rf.post(URL, REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_network(request) == key
