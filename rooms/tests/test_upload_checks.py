"""What the page's script sends beside the photos, and the reasons it gets back.

- `captured_at`: a photo shrunk in the browser has lost its EXIF; the original's
  capture time comes as a field, and is kept when the stored photo has none.
- Refusals answer the script in JSON, each reason named by its input (or file), with
  a 4xx; nothing is stored.
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from rooms.models import RoomImage, Submission
from rooms.tests.test_submissions_api import room_photo

JSON = {"HTTP_ACCEPT": "application/json"}


def photo(key="a", exif_time=None):
    buffer = io.BytesIO()
    image = Image.open(io.BytesIO(room_photo(key)))
    exif = Image.Exif()
    if exif_time:
        exif.get_ifd(0x8769)[0x9003] = exif_time
    image.save(buffer, "JPEG", exif=exif)
    return SimpleUploadedFile(f"photo-{key}.jpg", buffer.getvalue(), "image/jpeg")


def send(client, hotel, files, captured_at, **extra):
    data = {"hotel": hotel.id, "room_number": "12", "images": files, "captured_at": captured_at}
    return client.post("/", data, **JSON, **extra)


def stored_files(settings):
    roots = (settings.MEDIA_ROOT, settings.PRIVATE_MEDIA_ROOT)
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_capture_time_of_a_shrunk_photo_is_kept(client, hotel):
    response = send(client, hotel, [photo("a"), photo("b")], ["2024-05-01T10:20:30+02:00", ""])
    assert response.status_code == 201, response.content
    times = list(RoomImage.objects.order_by("id").values_list("captured_at", flat=True))
    assert times == [datetime(2024, 5, 1, 8, 20, 30, tzinfo=UTC), None]


def test_a_time_without_offset_is_wall_clock_time_as_the_intake_keeps_it(client, hotel):
    send(client, hotel, [photo("a")], ["2024-05-01T10:20:30"])
    assert RoomImage.objects.get().captured_at == datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)


def test_the_photos_own_exif_time_wins(client, hotel):
    send(client, hotel, [photo("a", exif_time="2023:01:02 03:04:05")], ["2024-05-01T10:20:30"])
    assert RoomImage.objects.get().captured_at == datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_api_takes_capture_times_too(hotel):
    files = [photo("a")]
    data = {"hotel": hotel.id, "room_number": "1", "images": files, "captured_at": ["2022-02-02"]}
    response = APIClient().post("/api/submissions/", data, format="multipart")
    assert response.status_code == 201, response.content
    assert RoomImage.objects.get().captured_at == datetime(2022, 2, 2, tzinfo=UTC)


def tomorrow_and_a_bit():
    return (datetime.now(UTC) + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("captured_at", "reason"),
    [
        (["yesterday"], "Photo 1: the capture time is not a date and time"),
        (
            ["1970-01-01T00:00:00"],
            "Photo 1: the capture time 1970-01-01T00:00:00 is not a plausible",
        ),
        ([tomorrow_and_a_bit()], "is not a plausible date"),
        (["2024-05-01T10:20:30", ""], "Send one capture time per photo (2 for 1 photos)."),
    ],
)
def test_a_bad_capture_time_is_a_400_and_nothing_is_stored(
    client, hotel, settings, captured_at, reason
):
    response = send(client, hotel, [photo("a")], captured_at)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "images" and reason in error["reason"]
    assert not Submission.objects.exists() and stored_files(settings) == []


def test_a_bad_capture_time_in_the_api_names_its_field(hotel):
    data = {"hotel": hotel.id, "room_number": "1", "images": [photo("a")], "captured_at": ["x"]}
    response = APIClient().post("/api/submissions/", data, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "captured_at"


# --- the script's refusals ------------------------------------------------------------


def test_refused_files_are_named_in_json_with_the_reason(client, hotel, settings):
    bad = SimpleUploadedFile("photo-2.jpg", b"%PDF-1.4 not a photo", "image/jpeg")
    response = send(client, hotel, [photo("a"), bad], [])
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == [
        {"field": "images", "file": "photo-2.jpg", "reason": body["errors"][0]["reason"]}
    ]
    assert "not a recognised image" in body["errors"][0]["reason"]
    assert "The others were not stored either" in body["detail"]
    assert not Submission.objects.exists() and stored_files(settings) == []


def test_a_file_over_the_limit_is_a_413_naming_it(client, hotel, settings):
    settings.UPLOAD_MAX_BYTES = 1024
    response = send(client, hotel, [photo("a")], [])
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["file"] == "photo-a.jpg" and "1024 byte upload limit" in error["reason"]


def test_field_errors_are_named_by_input(client, hotel):
    data = {"hotel": "999999", "room_number": "", "images": [photo("a")]}
    response = client.post("/", data, **JSON)
    assert response.status_code == 400
    fields = {error["field"]: error["reason"] for error in response.json()["errors"]}
    assert fields["hotel"].startswith("That hotel is not in our list")
    assert fields["room_number"] == "This field is required."


def test_without_javascript_errors_have_a_summary_linking_to_each_field(client, hotel):
    response = client.post("/", {"hotel": hotel.id, "room_number": "", "images": [photo("a")]})
    assert response.status_code == 400
    html = response.content.decode()
    summary = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index("error-summary"))
    ]
    assert "autofocus" in summary and "hidden" not in summary
    assert '<a href="#id_room_number">This field is required.</a>' in summary
    assert 'aria-invalid="true"' in html


def test_page_carries_the_servers_own_limits(client, db, settings):
    settings.UPLOAD_MAX_BYTES = 12345
    html = client.get("/").content.decode()
    assert '"maxBytes": 12345' in html and '"maxPhotos": 4' in html
    assert '"maxPixels": 50000000' in html and '"storedMaxSide": 2048' in html
