import os
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rooms.models import RoomImage, Submission
from testsupport.browser import launch_chromium


def jpeg(image_bytes, name="room.jpg", color=(120, 80, 40)):
    return SimpleUploadedFile(name, image_bytes("JPEG", size=(320, 240), color=color), "image/jpeg")


def post_upload(client, hotel, files, room_number="204"):
    return client.post("/", {"hotel": hotel.id, "room_number": room_number, "images": files})


def stored_files(settings):
    return [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


def test_upload_page_renders_with_guidance(client, db):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert re.search(r'<input type="file" name="images"[^>]*accept="image/\*"', html)
    assert re.search(r"<input[^>]* capture[ >]", html) and " multiple" in html
    assert "csrfmiddlewaretoken" in html
    assert "bed, from its foot" in html and "bathroom, from the doorway" in html
    assert "/api/hotels/" in html  # the live search calls the hotels API
    assert "rooms/upload.js" in html


def test_search_without_javascript_lists_matching_hotels(client, hotel):
    html = client.get("/", {"q": "riverside"}).content.decode()
    assert f'value="{hotel.id}"' in html and "Harbour Inn Riverside" in html
    assert "No hotel matches" in client.get("/", {"q": "nowhere"}).content.decode()


def test_upload_creates_submission_and_shows_its_thank_you_page(client, hotel, image_bytes):
    files = [jpeg(image_bytes), jpeg(image_bytes, "b.png", color=(20, 160, 90))]
    response = post_upload(client, hotel, files)
    submission = Submission.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/thanks/{submission.public_id}/"  # not the int id
    assert (submission.hotel, submission.room_number) == (hotel, "204")
    assert submission.images.count() == 2
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "room 204" in html and hotel.name in html
    assert html.count("Received, waiting to be processed") == 2
    # The receipt shown is the key to the status API, and only its digest is stored.
    receipt = re.search(r'class="receipt">([\w-]+)<', html).group(1)
    assert receipt not in str(Submission.objects.values().get())
    status = client.get(f"/api/submissions/{receipt}/").json()
    assert [i["status"] for i in status["images"]] == ["received", "received"]


def test_thank_you_page_is_only_for_the_uploader(client, hotel, image_bytes):
    response = post_upload(client, hotel, [jpeg(image_bytes)])
    assert client.get(response["Location"]).status_code == 200
    assert Client().get(response["Location"]).status_code == 404


def test_bad_file_shows_reason_with_400_and_stores_nothing(client, hotel, settings):
    bad = SimpleUploadedFile("notes.jpg", b"this is not an image", "image/jpeg")
    response = post_upload(client, hotel, [bad])
    assert response.status_code == 400
    html = response.content.decode()
    assert "notes.jpg: not a recognised image" in html
    assert "Harbour Inn Riverside" in html  # the chosen hotel stays selected
    assert not Submission.objects.exists() and not RoomImage.objects.exists()
    assert stored_files(settings) == []


def test_one_bad_file_among_good_ones_stores_nothing(client, hotel, image_bytes, settings):
    bad = SimpleUploadedFile("broken.jpg", image_bytes("JPEG")[:50], "image/jpeg")
    response = post_upload(client, hotel, [jpeg(image_bytes), bad])
    assert response.status_code == 400
    assert "broken.jpg" in response.content.decode()
    assert not Submission.objects.exists()
    assert stored_files(settings) == []


def test_too_large_file_gives_413_with_reason(client, hotel, image_bytes, settings):
    settings.UPLOAD_MAX_BYTES = 1024
    big = SimpleUploadedFile("big.png", image_bytes("PNG", size=(400, 300)), "image/png")
    response = post_upload(client, hotel, [big])
    assert response.status_code == 413
    assert "big.png: file is larger than the 1024 byte upload limit" in response.content.decode()
    assert not Submission.objects.exists()
    assert stored_files(settings) == []


def test_thank_you_page_never_shows_someone_elses_copy_of_a_duplicate(hotel, image_bytes):
    first, second = Client(), Client()
    post_upload(first, hotel, [jpeg(image_bytes)])
    theirs = RoomImage.objects.get()
    response = post_upload(second, hotel, [jpeg(image_bytes)], room_number="9")
    html = second.get(response["Location"]).content.decode()
    assert "1 photo we already had was not stored again" in html
    assert theirs.file.url not in html


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"hotel": None}, "Choose your hotel"),
        ({"hotel": "999999"}, "That hotel is not in our list"),
        ({"room_number": ""}, "This field is required"),
        ({"room_number": "x" * 21}, "at most 20 characters"),
        ({"photos": 0}, "Send between 1 and 4 photos"),
        ({"photos": 5}, "Send between 1 and 4 photos"),
    ],
)
def test_bad_form_gives_400_with_reason(client, hotel, image_bytes, data, reason):
    data = {"hotel": hotel.id, "room_number": "12", **data}
    data = {key: value for key, value in data.items() if value is not None}
    count = data.pop("photos", 1)
    colors = [(i * 40, 100, 200 - i * 30) for i in range(count)]
    data["images"] = [jpeg(image_bytes, f"{i}.jpg", c) for i, c in enumerate(colors)]
    response = client.post("/", data)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Submission.objects.exists()


def test_post_needs_csrf_token(hotel, image_bytes):
    client = Client(enforce_csrf_checks=True)
    response = post_upload(client, hotel, [jpeg(image_bytes)])
    assert response.status_code == 403
    assert not Submission.objects.exists()


def test_uploads_are_rate_limited(client, hotel, image_bytes, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"uploads": "2/hour", "searches": "10/hour"},
    }
    for i in range(2):
        response = post_upload(client, hotel, [jpeg(image_bytes, color=(i * 90, 50, 50))])
        assert response.status_code == 302
    response = post_upload(client, hotel, [jpeg(image_bytes, color=(250, 250, 0))])
    assert response.status_code == 429
    assert "Too many uploads" in response.content.decode()
    assert Submission.objects.count() == 2


@pytest.fixture
def phone(monkeypatch, tmp_path):
    """A phone-sized headless Chromium page at a fixed location (Debian's browser only)."""
    with launch_chromium(monkeypatch) as browser:
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            geolocation={"latitude": 45.5201, "longitude": -122.6801},
            permissions=["geolocation"],
        )
        yield context.new_page()


@pytest.mark.slow
@pytest.mark.browser
def test_upload_in_a_phone_browser(phone, live_server, hotel, image_bytes, tmp_path):
    from rooms.tests.test_hotels_api import make_hotel

    make_hotel("Far Lodge", 45.60, -122.68)  # ~9 km north
    make_hotel("Riverside Annex", 45.5203, -122.6803)  # next door
    photo_file = tmp_path / "room.jpg"
    photo_file.write_bytes(image_bytes("JPEG", size=(320, 240)))

    phone.goto(live_server.url + "/")
    phone.fill("#q", "riverside")
    phone.click("#hotel-search button[type=submit]")
    phone.wait_for_selector("#hotel-results li")
    assert phone.inner_text("#hotel-results").count("Riverside") == 2  # fetched, no reload
    assert phone.url == live_server.url + "/"

    phone.click("#use-location")
    # A locator, not wait_for_function: the page's CSP forbids evaluating strings.
    phone.locator("#hotel-results li", has_text="away").first.wait_for()
    names = phone.locator("#hotel-results strong").all_inner_texts()
    assert names == ["Harbour Inn Riverside", "Riverside Annex", "Far Lodge"]  # nearest first

    phone.check(f"#hotel-results input[value='{hotel.id}']")
    phone.fill("#id_room_number", "312")
    phone.set_input_files("#id_images", str(photo_file))
    phone.locator("#photo-count", has_text="1 of 4 photos chosen").wait_for()  # read, checked
    screenshot(phone, "upload-phone.png")
    phone.click("#upload-submit")
    phone.wait_for_url(re.compile(r"/thanks/[0-9a-f-]{36}/$"))
    assert "room 312" in phone.inner_text("main")
    assert Submission.objects.get().room_number == "312"
    screenshot(phone, "thanks-phone.png")


def screenshot(page, name):
    """Set TC_SCREENSHOT_DIR to look at the pages as a phone shows them."""
    if os.environ.get("TC_SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["TC_SCREENSHOT_DIR"], name), full_page=True)
