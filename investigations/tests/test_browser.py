"""End to end in headless Chromium: log in, erase, search, read the ranked hotels.

Uses Debian's /usr/bin/chromium (never a downloaded browser). Skipped when it is
absent, except under CI=true where a missing browser is a failure.
Set TC_SCREENSHOT_DIR to keep screenshots of the pages (desktop and phone).
"""

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.urls import re_path
from django.views.static import serve
from PIL import Image

from accounts.testing import browser_login
from demo import images as demo_images
from investigations.models import Search
from investigations.tests.conftest import PASSWORD
from investigations.tests.test_pages import room_style, seed_hotels
from testsupport.browser import launch_chromium
from traffickcam.urls import urlpatterns as project_urlpatterns

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _serve_media(request, name):
    # MEDIA_ROOT is a per-test folder, so it is read at request time.
    return serve(request, name, document_root=django_settings.MEDIA_ROOT)


# The project's URLs plus traveller photos, which only DEBUG serves: the results page's
# thumbnails must load for the test to see them.
urlpatterns = [*project_urlpatterns, re_path(r"^media/(?P<name>.+)$", _serve_media)]


@pytest.fixture
def chromium(monkeypatch):
    with launch_chromium(monkeypatch) as browser:
        yield browser


def sideways_phone_photo(tmp_path) -> tuple[Path, tuple[int, int]]:
    """A photo stored rotated with EXIF orientation 6, as phones save portrait shots.

    Upright it is 640x480; the stored pixels are 480x640. The mask must come back at
    the upright size, or the server rejects it.
    """
    upright = demo_images.photo(room_style(1), 2, size=(640, 480))  # a view not uploaded
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 undoes this
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Pixelphone"
    exif[0x0110] = "Pixel 9"
    file = tmp_path / "query.jpg"
    stored.save(file, "JPEG", quality=90, exif=exif)
    return file, upright.size


@pytest.fixture
def posted_masks(monkeypatch):
    """The mask files the server received (Chromium does not expose upload bodies).

    A spy, not a stand-in: the real `read_mask` still runs.
    """
    import investigations.query

    received = []
    real_read_mask = investigations.query.read_mask

    def spy(upload, size):
        upload.seek(0)
        received.append(Image.open(io.BytesIO(upload.read())))
        upload.seek(0)
        return real_read_mask(upload, size)

    monkeypatch.setattr(investigations.query, "read_mask", spy)
    return received


def drag(page, selector, start, end, steps=12):
    """Mouse drag between two points given as fractions of the element's box."""
    box = page.locator(selector).bounding_box()
    x0, y0 = box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1]
    x1, y1 = box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=steps)
    page.mouse.up()


def screenshot(page, name):
    folder = os.environ.get("TC_SCREENSHOT_DIR")
    if folder:
        page.wait_for_timeout(600)  # let the map finish re-framing after a resize
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_investigator_erases_searches_and_sees_the_right_hotel_first(
    chromium, live_server, alice, settings, tmp_path, posted_masks
):
    settings.ROOT_URLCONF = __name__
    hotels = seed_hotels()  # uploads commit at once here: embedded before the search
    photo, upright_size = sideways_phone_photo(tmp_path)

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/investigate/")
    assert "/accounts/login/" in page.url
    browser_login(page, live_server.url, "alice", PASSWORD)  # password, then the TOTP code

    page.set_input_files("input[name=image]", str(photo))
    page.wait_for_selector("#eraser-stage:not([hidden])")
    status = page.locator("#eraser-status")
    # Canvas shown upright: landscape, as the server will see it.
    box = page.locator("#eraser-ui").bounding_box()
    assert box["width"] > box["height"]

    drag(page, "#eraser-ui", (0.3, 0.3), (0.5, 0.6))  # "the victim"
    drag(page, "#eraser-ui", (0.8, 0.1), (0.9, 0.2))
    assert status.inner_text().startswith("2 strokes")
    page.click("#eraser-undo")
    assert status.inner_text().startswith("1 stroke")
    page.check("input[name=eraser-mode][value=region]")
    drag(page, "#eraser-ui", (0.02, 0.02), (0.98, 0.98))
    assert "region set" in status.inner_text()
    screenshot(page, "search-desktop")

    page.click("#search-submit")
    page.wait_for_url(re.compile(r".*/investigate/searches/[0-9a-f-]{36}/$"))

    mask = posted_masks[0]  # the search's (heat maps drawn for the results read it again)
    assert mask.size == upright_size
    erased = np.asarray(mask.convert("L")) > 127
    height, width = erased.shape
    assert erased[int(height * 0.45), int(width * 0.4)]  # on the kept stroke
    assert not erased[int(height * 0.15), int(width * 0.85)]  # the undone stroke
    assert 0.005 < erased.mean() < 0.2

    search = Search.objects.get()
    assert search.mask_sha256 and search.region is not None
    assert search.query_exif["camera_model"] == "Pixel 9"
    results = page.locator(".hotel-result")
    assert results.count() == 3
    assert results.first.get_attribute("data-hotel-id") == str(hotels[1].pk)
    assert "Seed Hotel 1" in results.first.inner_text()
    # The query preview, the first thumbnail and heat-map pair, and the offline map drew
    # (lazy images further down load when scrolled to).
    page.wait_for_function(
        "() => ['#query-photo', '.inv-thumb img', '.inv-explain img']"
        ".map(s => document.querySelector(s)).every(img => img.complete && img.naturalWidth > 0)"
    )
    assert page.locator("#results-map .leaflet-interactive").count() == 3
    assert "Pixel 9" in page.locator("#query-exif").inner_text()
    screenshot(page, "results-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "results-phone")
    page.close()


@pytest.mark.django_db(transaction=True)
def test_server_reason_is_shown_when_the_photo_is_not_an_image(
    chromium, live_server, alice, tmp_path
):
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"definitely not a photo")
    context = chromium.new_context()
    page = context.new_page()
    browser_login(page, live_server.url, "alice", PASSWORD)
    page.set_input_files("input[name=image]", str(bad))
    # The browser cannot draw it either: the page says so and still lets it be sent.
    page.wait_for_function(
        "() => document.querySelector('#eraser-status').textContent.includes('cannot show')"
    )
    page.click("#search-submit")
    page.wait_for_selector("#form-errors")
    assert "The search was not run" in page.locator("#form-errors").inner_text()
    assert Search.objects.count() == 0
    context.close()


def log_in(page, base_url):
    browser_login(page, base_url, "alice", PASSWORD)


def paint_and_search(page, photo):
    page.set_input_files("input[name=image]", str(photo))
    page.wait_for_selector("#eraser-stage:not([hidden])")
    drag(page, "#eraser-ui", (0.3, 0.3), (0.5, 0.6))
    page.click("#search-submit")
    page.wait_for_url(re.compile(r".*/investigate/searches/[0-9a-f-]{36}/$"))


def no_horizontal_scroll(page):
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.django_db(transaction=True)
def test_investigator_compares_decides_and_refines_without_uploading_again(
    chromium, live_server, alice, settings, tmp_path
):
    settings.ROOT_URLCONF = __name__
    hotels = seed_hotels()
    photo, _ = sideways_phone_photo(tmp_path)
    page = chromium.new_page(viewport={"width": 1440, "height": 900})
    log_in(page, live_server.url)
    paint_and_search(page, photo)
    results_url = page.url

    # The thumbnail opens the compare view of that match.
    page.locator(".inv-thumb").first.click()
    page.wait_for_url(re.compile(r".*/compare/\d+/\?revision=1$"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('.cmp-photo')].every(i => i.naturalWidth > 0)"
    )
    assert no_horizontal_scroll(page)
    compare = page.locator("#compare")
    page.keyboard.press("+")
    assert float(compare.get_attribute("data-zoom")) > 1
    box = page.locator(".cmp-viewport").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    transforms = page.eval_on_selector_all(".cmp-stage", "els => els.map(e => e.style.transform)")
    assert transforms[0].endswith(transforms[1].split(")")[-2] + ")")  # same scale in both
    page.click("#cmp-zoom-reset")
    assert compare.get_attribute("data-zoom") == "1.000"
    # Heat maps: two overlays that load (the server draws them on demand).
    page.keyboard.press("h")
    assert page.get_attribute("#cmp-heat", "aria-pressed") == "true"
    page.wait_for_function(
        "() => [...document.querySelectorAll('.cmp-heat')]"
        ".every(i => !i.hidden && i.complete && i.naturalWidth > 0)"
    )
    page.keyboard.press("c")
    page.wait_for_function(
        "() => /\\d+ matching point|No matching/"
        ".test(document.querySelector('#cmp-status').textContent)"
    )
    if Search.objects.get().hotels[0]["matches"][0].get("inliers"):
        assert page.locator(".cmp-svg:not([hidden]) circle").count() > 0
    # Both photos and the decision buttons in view at once, without scrolling.
    for selector in (".cmp-viewport >> nth=1", "#compare .inv-decide button[value=rejected]"):
        box = page.locator(selector).bounding_box()
        assert box["y"] + box["height"] <= 900, selector
    screenshot(page, "compare-desktop")
    page.set_viewport_size({"width": 1024, "height": 768})
    assert no_horizontal_scroll(page)
    screenshot(page, "compare-tablet")

    # Confirm the top hotel on the results page.
    page.goto(results_url)
    top = page.locator(f"#hotel-{hotels[1].pk}")
    top.locator(".inv-hotel-decision input[name=note]").fill("same headboard")
    top.locator(".inv-hotel-decision button[value=confirmed]").click()
    page.wait_for_selector(f"#hotel-{hotels[1].pk}.inv-confirmed")
    assert "Confirmed: “same headboard”" in page.locator(f"#hotel-{hotels[1].pk}").inner_text()

    # Re-run with a country filter: no upload, a second revision, both listed.
    page.click("#refine summary")
    page.fill("#refine-form input[name=country]", "US")
    page.click("#refine-submit")
    page.wait_for_url(re.compile(r".*\?revision=2$"))
    assert page.locator("#revision-list li").count() == 2
    assert page.locator(".hotel-result").count() == 1
    page.click("#revision-list a:text('Revision 1')")
    page.wait_for_url(re.compile(r".*\?revision=1$"))
    assert page.locator(".hotel-result").count() == 3
    assert Search.objects.get().revisions.count() == 2
    page.goto("about:blank")  # stop lazy heat maps loading while the test database goes
    page.close()


@pytest.mark.django_db(transaction=True)
def test_a_bad_filter_keeps_the_photo_and_the_painted_mask(
    chromium, live_server, alice, settings, tmp_path, posted_masks
):
    settings.ROOT_URLCONF = __name__
    seed_hotels()
    photo, upright_size = sideways_phone_photo(tmp_path)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, live_server.url)
    page.set_input_files("input[name=image]", str(photo))
    page.wait_for_selector("#eraser-stage:not([hidden])")
    drag(page, "#eraser-ui", (0.3, 0.3), (0.5, 0.6))
    status = page.locator("#eraser-status")

    # Caught in the browser: latitude without longitude is never sent.
    page.fill("input[name=latitude]", "45.5")
    page.click("#search-submit")
    error = page.locator("[data-field=longitude] .client-error")
    assert "longitude too" in error.inner_text()
    assert page.evaluate("() => document.activeElement.name") == "longitude"
    assert Search.objects.count() == 0

    # Caught by the server (radius out of range): the page stays, errors in place.
    page.fill("input[name=longitude]", "-122.6")
    page.fill("input[name=radius_km]", "99999")
    page.click("#search-submit")
    page.wait_for_selector("#form-errors")
    assert page.evaluate("() => document.activeElement.id") == "form-errors"
    assert page.locator("[data-field=radius_km] .error").count() == 1
    assert status.inner_text().startswith("The search was not run")
    assert page.evaluate("() => document.querySelector('input[name=image]').files.length") == 1
    painted = page.evaluate(
        "() => { const c = document.getElementById('eraser-mask');"
        " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
        ".some((v, i) => i % 4 === 3 && v > 0); }"
    )
    assert painted
    assert Search.objects.count() == 0

    # Fixed: the same photo and mask go, without choosing or painting again.
    page.fill("input[name=radius_km]", "50")
    page.click("#search-submit")
    page.wait_for_url(re.compile(r".*/investigate/searches/[0-9a-f-]{36}/$"))
    assert posted_masks[-1].size == upright_size
    assert Search.objects.get().mask_sha256
    page.close()


@pytest.mark.django_db(transaction=True)
def test_map_spreads_hotels_on_one_spot_and_plots_the_photos_position(chromium, live_server, alice):
    from investigations.tests.test_pages import HOTEL_HIT, stored_search

    # Ranks 1, 2 and 3 on one spot, as hotels of one building or one geocoded address.
    hits = [
        {**HOTEL_HIT, "rank": rank, "hotel": {**HOTEL_HIT["hotel"], "id": rank, "name": f"H{rank}"}}
        for rank in (1, 2, 3)
    ]
    exif = {"gps_latitude": 45.60, "gps_longitude": -122.60}
    stored_search(alice, hotels=hits, exif=exif)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/investigate/searches/")
    page.click("#search-list a:text('Open')")
    page.wait_for_selector("#results-map .leaflet-interactive")
    centres = page.eval_on_selector_all(
        "#results-map path.leaflet-interactive",
        "els => els.map(e => { const b = e.getBoundingClientRect();"
        " return [Math.round(b.x + b.width / 2), Math.round(b.y + b.height / 2)]; })",
    )
    assert len(centres) == 3 and len(set(map(tuple, centres))) == 3  # all apart
    assert page.locator("#results-map .inv-map-query").count() == 1
    assert "km from where the query photo was taken" in page.locator("#hotel-results").inner_text()
    page.locator("#results-map .leaflet-control-zoom-in").click()
    page.locator("#results-map .inv-map-fit").click()
    page.close()
