"""End to end in headless Chromium: a case of two photos of one room, and the eraser's
suggested mask. Same browser, fixtures and live server as test_browser.py."""

import re

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from demo import images as demo_images
from demo.person import room_with_person
from investigations.models import Case, Search
from investigations.tests import test_browser
from investigations.tests.test_browser import drag, log_in, no_horizontal_scroll, screenshot
from investigations.tests.test_pages import room_style, seed_hotels

pytestmark = [pytest.mark.slow, pytest.mark.browser]
# test_browser's fixtures: Debian's Chromium, and the spy on the masks the server gets.
chromium = test_browser.chromium
posted_masks = test_browser.posted_masks
# test_browser's URLs: the project's, plus traveller photos served for the thumbnails.
BROWSER_URLS = "investigations.tests.test_browser"
# Seeds of demo.person whose drawn person the detectors find (retrieval's own tests).
PERSON_FOUND_SEED = 4


def room_photo(path, view, captured, gps=None):
    """A photo of Seed Hotel 1's room (a view the gallery lacks) with a capture time."""
    image = demo_images.photo(room_style(1), view, size=(640, 480))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Pixelphone", "Pixel 9"
    exif.get_ifd(0x8769)[0x9003] = captured
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (45.0, 31.0, 0.0), 3: "W", 4: (122.0, 41.0, 0.0)})
    image.save(path, "JPEG", quality=90, exif=exif)
    return path


def search_into_case(page, photo):
    page.click("#case-add-photo")
    page.set_input_files("input[name=image]", str(photo))
    page.wait_for_selector("#eraser-stage:not([hidden])")
    drag(page, "#eraser-ui", (0.05, 0.05), (0.1, 0.1))
    page.click("#search-submit")
    page.wait_for_url(re.compile(r".*/investigate/searches/[0-9a-f-]{36}/$"))
    assert "In case OP-2026-17" in page.locator("#case-link").inner_text()
    page.click("#case-link a")
    page.wait_for_selector("#case-photos")


@pytest.mark.django_db(transaction=True)
def test_a_case_of_two_photos_ranks_their_room_first_with_timeline_map_and_report(
    chromium, live_server, alice, settings, tmp_path
):
    settings.ROOT_URLCONF = BROWSER_URLS
    hotels = seed_hotels()
    later = room_photo(tmp_path / "a.jpg", 2, "2026:04:20 23:10:00", gps=True)
    earlier = room_photo(tmp_path / "b.jpg", 3, "2026:02:02 22:00:00")
    page = chromium.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    log_in(page, live_server.url)

    page.click(".inv-nav a:text('Cases')")
    page.fill("#case-form input[name=reference]", "OP-2026-17")
    page.fill("#case-form input[name=title]", "Two photos, one room")
    page.click("#case-submit")
    page.wait_for_selector("#no-photos")
    search_into_case(page, later)
    search_into_case(page, earlier)
    case = Case.objects.get()
    assert case.searches.count() == 2

    # "Same room" on both, the second by keyboard only.
    page.check("#same-room-1")
    page.click("#photo-1 .case-same-room button")
    page.wait_for_selector("#combined-ranking")
    page.focus("#same-room-2")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#photo-2.case-photo--same-room")
    first = page.locator("#combined-ranking tbody tr").first
    assert first.get_attribute("data-hotel-id") == str(hotels[1].pk)
    assert "Seed Hotel 1" in first.inner_text() and "2 of 2" in first.inner_text()

    # The timeline puts February's photo (photo 2) before April's (photo 1).
    items = page.locator("#case-timeline li").all_inner_texts()
    assert [re.search(r"Photo \d", item).group() for item in items] == ["Photo 2", "Photo 1"]
    assert "77 days after the first" in items[1]
    # The map: the candidate hotels and the one photo with GPS tags, offline.
    page.wait_for_selector("#case-map .leaflet-interactive")
    assert page.locator("#case-map path.leaflet-interactive").count() >= 2
    assert page.locator("#case-map .inv-map-query").inner_text() == "Photo 1"
    page.wait_for_function(
        "() => [...document.querySelectorAll('.case-thumb img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    assert no_horizontal_scroll(page)
    screenshot(page, "case-desktop")
    for width, height in ((1024, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert no_horizontal_scroll(page), width
    screenshot(page, "case-phone")

    with page.expect_download() as download:
        page.click("#case-report")
    text = "".join(sheet.extract_text() for sheet in PdfReader(download.value.path()).pages)
    flat = re.sub(r"\s+", "", text)
    assert "OP-2026-17" in text and "Seed Hotel 1" in text
    for search in Search.objects.all():
        assert search.query_sha256 in flat

    # The team's history, narrowed to the case: both photos, with their thumbnails.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#photo-1 >> text=Open the search")
    page.click(".inv-nav >> text=Team's recent searches")
    page.select_option("#history-filters select[name=case]", str(case.pk))
    page.click("#history-filter")
    page.wait_for_url(re.compile(rf".*\?case={case.pk}"))
    assert page.locator("#search-list tbody tr").count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('.inv-list-thumb')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    screenshot(page, "history-desktop")
    page.close()


def suggest(page, photo):
    page.set_input_files("input[name=image]", str(photo))
    page.wait_for_selector("#eraser-stage:not([hidden])")
    page.click("#eraser-suggest")
    page.wait_for_function(
        "() => /found|suggested/.test(document.querySelector('#eraser-status').textContent)",
        timeout=60_000,
    )
    return page.locator("#eraser-status").inner_text()


def painted_share(page):
    return page.evaluate(
        "() => { const c = document.getElementById('eraser-mask');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;"
        " return n / (c.width * c.height); }"
    )


@pytest.mark.django_db(transaction=True)
def test_suggest_mask_proposes_the_person_and_the_search_sends_it(
    chromium, live_server, alice, settings, tmp_path, posted_masks
):
    settings.ROOT_URLCONF = BROWSER_URLS
    empty = tmp_path / "empty.jpg"
    demo_images.photo(room_style(1), 2, size=(640, 480)).save(empty, "JPEG", quality=90)
    image, truth = room_with_person(PERSON_FOUND_SEED)
    person = tmp_path / "person.jpg"
    image.save(person, "JPEG", quality=92)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, live_server.url)

    assert suggest(page, empty) == "No person found: paint by hand."
    assert painted_share(page) == 0

    status = suggest(page, person)
    assert re.fullmatch(r"\d+ (person|people) found: check the red area\.", status), status
    assert painted_share(page) > 0.02
    page.click("#eraser-undo")  # the suggestion is one layer: undo removes it
    assert painted_share(page) == 0
    page.click("#eraser-suggest")
    page.wait_for_function("() => document.querySelector('#eraser-undo').disabled === false")
    drag(page, "#eraser-ui", (0.02, 0.02), (0.06, 0.06))  # and the brush adds to it
    assert page.locator("#eraser-status").inner_text().startswith("Suggested mask and 1 stroke")
    screenshot(page, "suggested-mask")

    page.click("#search-submit")
    page.wait_for_url(re.compile(r".*/investigate/searches/[0-9a-f-]{36}/$"))
    sent = np.asarray(posted_masks[0].convert("L")) > 127
    assert sent.shape == truth.shape
    assert (sent & truth).sum() / truth.sum() > 0.9  # the person, as suggested
    assert sent[int(0.04 * sent.shape[0]), int(0.04 * sent.shape[1])]  # the painted stroke
    page.close()
