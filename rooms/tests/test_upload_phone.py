"""The upload page in a phone browser (Chromium at 390×844, touch): photos checked before
sending, a progress bar on a slow connection, a retry after a dropped connection that
stores the submission exactly once, and photos shrunk before sending."""

import io
import re
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError

from demo import images as demo_images
from rooms.models import Hotel, RoomImage, Submission
from rooms.tests import test_pages
from rooms.tests.test_submissions_api import room_photo

phone = test_pages.phone  # the phone-sized Chromium fixture, shared

pytestmark = [pytest.mark.slow, pytest.mark.browser]
THANKS = re.compile(r"/thanks/[0-9a-f-]{36}/$")


def photo_files(tmp_path, count, size=(640, 480), start=0):
    paths = []
    for i in range(start, start + count):
        path = tmp_path / f"room-{i}.jpg"
        path.write_bytes(room_photo(f"k{i}", size=size))
        paths.append(str(path))
    return paths


def posts_of(page) -> list:
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    return posts


def open_page(page, live_server, hotel, room="12"):
    page.goto(f"{live_server.url}/?q=riverside")
    page.check(f"#hotel-results input[value='{hotel.id}']")
    page.fill("#id_room_number", room)


def test_five_photos_are_refused_in_the_page_before_any_request(
    phone, live_server, hotel, tmp_path
):
    posts = posts_of(phone)
    open_page(phone, live_server, hotel)
    phone.set_input_files("#id_images", photo_files(tmp_path, 5))
    phone.locator("#photo-list li").nth(3).wait_for()
    assert phone.locator("#photo-list li").count() == 4
    assert "room-4.jpg was not added: at most 4 photos" in phone.inner_text("#error-images")
    assert "4 of 4 photos chosen" in phone.inner_text("#photo-count")
    assert posts == [] and not Submission.objects.exists()


def test_a_pdf_among_photos_is_refused_alone(phone, live_server, hotel, tmp_path):
    posts = posts_of(phone)
    open_page(phone, live_server, hotel)
    pdf = tmp_path / "booking.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
    files = photo_files(tmp_path, 2)
    phone.set_input_files("#id_images", [files[0], str(pdf), files[1]])
    phone.locator("#photo-list li").nth(1).wait_for()
    assert "booking.pdf is not a photo" in phone.inner_text("#error-images")
    assert phone.locator("#photo-list li").count() == 2  # the others stay chosen
    assert posts == []
    test_pages.screenshot(phone, "upload-refused-pdf.png")
    # Removing one is a 44 px tap; the other stays.
    remove = phone.locator("#photo-list .remove").first
    box = remove.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44
    remove.tap()
    assert phone.locator("#photo-list li").count() == 1
    phone.click("#upload-submit")
    phone.wait_for_url(THANKS)
    assert Submission.objects.get().images.count() == 1


def test_errors_stand_by_their_fields_with_a_focused_summary(phone, live_server, hotel):
    posts = posts_of(phone)
    phone.goto(live_server.url + "/")
    phone.click("#upload-submit")
    summary = phone.locator("#error-summary")
    summary.wait_for()
    assert summary.evaluate("node => node === document.activeElement")
    text = summary.inner_text()
    assert "Choose your hotel" in text and "Type your room number" in text
    assert "Choose your hotel" in phone.inner_text("#error-hotel")
    assert phone.get_attribute("#id_room_number", "aria-invalid") == "true"
    assert posts == []
    test_pages.screenshot(phone, "upload-errors.png")


def test_progress_bar_advances_on_a_slow_connection(phone, live_server, hotel, tmp_path):
    open_page(phone, live_server, hotel)
    phone.set_input_files("#id_images", photo_files(tmp_path, 4, size=(1600, 1200)))
    phone.locator("#photo-list li").nth(3).wait_for()
    total = sum(
        int(b)
        for b in phone.locator("#photo-list li").evaluate_all(
            "items => items.map(item => item.dataset.bytes)"
        )
    )
    cdp = phone.context.new_cdp_session(phone)
    cdp.send("Network.enable")
    # About four seconds for the photos at 3G-like upload speed.
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 100,
        "downloadThroughput": 1_000_000, "uploadThroughput": max(total // 4, 50_000),
    })  # fmt: skip
    phone.click("#upload-submit")
    seen, texts = set(), set()
    for _ in range(200):  # at most 30 s
        try:
            seen.add(int(phone.get_attribute("#upload-progress", "value", timeout=500) or 0))
            texts.add(phone.inner_text("#progress-text", timeout=500))
        except PlaywrightError:
            break  # the thank-you page replaced the form
        phone.wait_for_timeout(150)
    phone.wait_for_url(THANKS)
    assert len({v for v in seen if 0 < v < 100}) >= 3, seen  # it moved, more than once
    assert any("MB sent" in text for text in texts), texts
    assert Submission.objects.get().images.count() == 4


def test_a_dropped_connection_is_retried_and_stored_exactly_once(
    phone, live_server, hotel, tmp_path
):
    tries = []

    def drop_first_answer(route):
        if route.request.method != "POST":
            return route.continue_()
        tries.append(route.request.post_data_buffer)
        if len(tries) == 1:
            route.fetch()  # the server receives and stores it ...
            return route.abort("connectionreset")  # ... and the answer never arrives
        return route.continue_()

    phone.route(re.compile(r"/$"), drop_first_answer)
    open_page(phone, live_server, hotel)
    phone.set_input_files("#id_images", photo_files(tmp_path, 4))
    phone.locator("#photo-list li").nth(3).wait_for()
    phone.click("#upload-submit")
    phone.wait_for_url(THANKS)
    assert len(tries) == 2
    token = re.compile(rb'name="client_token"\r\n\r\n([0-9a-f-]{36})')
    assert token.search(tries[0]).group(1) == token.search(tries[1]).group(1)
    assert Submission.objects.count() == 1 and RoomImage.objects.count() == 4
    assert "room 12" in phone.inner_text("main")


def test_proposing_a_hotel_with_the_phones_position(phone, live_server, db, tmp_path):
    phone.goto(live_server.url + "/")
    phone.check("#hotel-new")
    phone.fill("#id_new-name", "Quay Hostel")
    phone.fill("#id_new-city", "Portland")
    phone.fill("#id_new-country_code", "us")
    phone.click("#proposal-locate")
    phone.locator("#proposal-locate-status", has_text="Position found").wait_for()
    test_pages.screenshot(phone, "upload-proposal.png")
    phone.fill("#id_room_number", "3")
    phone.set_input_files("#id_images", photo_files(tmp_path, 1))
    phone.locator("#photo-list li").first.wait_for()
    phone.click("#upload-submit")
    phone.wait_for_url(THANKS)
    hotel = Hotel.objects.get()
    assert (hotel.status, hotel.country_code) == (Hotel.Status.PROPOSED, "US")
    assert (round(hotel.latitude, 4), round(hotel.longitude, 4)) == (45.5201, -122.6801)
    assert "a moderator checks it" in phone.inner_text("main")


def phone_photo(path, size=(4000, 3000), taken="2024:05:01 10:20:30", offset="+02:00"):
    """A 12 MP photo as a phone writes it: sensor noise, EXIF capture time, quality 92."""
    base = np.asarray(demo_images.photo(demo_images.style_for("p", "p"), 0, size=size))
    noise = np.random.default_rng(1).normal(0, 6, base.shape)
    image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken
    exif.get_ifd(0x8769)[0x9011] = offset
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_a_12_megapixel_photo_is_shrunk_and_keeps_its_capture_time(
    phone, live_server, hotel, tmp_path, capsys
):
    sent = []

    def measure(route):
        if route.request.method == "POST":  # routed: the body is readable
            sent.append(len(route.request.post_data_buffer))
        route.continue_()

    phone.route(re.compile(r"/$"), measure)
    original = phone_photo(tmp_path / "IMG_0001.jpg")
    open_page(phone, live_server, hotel)
    phone.set_input_files("#id_images", original)
    item = phone.locator("#photo-list li").first
    item.wait_for()
    before, after = (
        int(item.get_attribute("data-original-bytes")),
        int(item.get_attribute("data-bytes")),
    )
    phone.click("#upload-submit")
    phone.wait_for_url(THANKS)
    with capsys.disabled():
        print(
            f"\n12 MP photo (4000x3000): {before:,} bytes chosen, {after:,} bytes "
            f"after shrinking to 2048 px, {sent[0]:,} bytes in the request"
        )
    assert after < before / 3 and sent[0] < before / 3
    image = RoomImage.objects.get()
    assert (image.width, image.height) == (2048, 1536)
    assert image.captured_at == datetime(2024, 5, 1, 8, 20, 30, tzinfo=UTC)
