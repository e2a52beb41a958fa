"""The upload page on a phone (Chromium at 390×844, touch) in the browser's language:
Spanish words from the page and from its script, the switcher used with the keyboard, and
Arabic laid out right to left with nothing wider than the screen."""

import pytest

from rooms.tests import test_pages
from rooms.tests.test_upload_phone import open_page, photo_files
from testsupport.browser import launch_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_in(monkeypatch):
    """`phone_in("es-ES")`: a phone-sized page whose browser asks for that language
    (Accept-Language and navigator.language), as test_pages.phone otherwise."""
    with launch_chromium(monkeypatch) as browser:

        def new_page(locale):
            context = browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, locale=locale
            )
            return context.new_page()

        yield new_page


def html_lang(page) -> tuple[str, str]:
    return tuple(
        page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]")
    )


def overflow(page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    return page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")


def test_upload_page_in_spanish_with_the_scripts_checks(phone_in, live_server, hotel, tmp_path):
    page = phone_in("es-ES")
    open_page(page, live_server, hotel)
    assert html_lang(page) == ("es", "ltr")
    assert page.inner_text("h1") == (
        "Ayuda a encontrar a víctimas de trata: añade fotos de tu habitación de hotel"
    )
    assert page.inner_text("#upload-submit") == "Enviar fotos"
    assert page.inner_text("label[for=id_room_number]") == "Número de habitación"

    page.set_input_files("#id_images", photo_files(tmp_path, 5))
    page.locator("#photo-list li").nth(3).wait_for()
    assert page.inner_text("#error-images") == (
        "No se añadió room-4.jpg: se pueden enviar 4 fotos como máximo."
    )
    assert page.inner_text("#photo-count") == "4 de 4 fotos elegidas."
    assert page.get_attribute("#photo-list li img >> nth=0", "alt") == "Foto 1"
    assert page.get_attribute("#photo-list .remove >> nth=0", "aria-label") == (
        "Quitar Foto 1 (room-0.jpg)"
    )

    page.fill("#id_room_number", "")
    page.click("#upload-submit")
    assert page.inner_text("#error-summary h2") == "Hay un problema"
    assert page.inner_text("#error-summary-list") == "Escribe el número de tu habitación."
    assert page.evaluate("() => document.activeElement.id") == "error-summary"


def test_switcher_changes_the_language_from_the_keyboard(phone_in, live_server, db):
    page = phone_in("es-ES")
    page.goto(f"{live_server.url}/?q=harbour")
    assert page.inner_text("#language-choice >> option:checked") == "Español"
    page.focus("#language-choice")
    page.select_option("#language-choice", "fr")  # chosen, nothing sent yet
    assert html_lang(page) == ("es", "ltr")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Cambiar"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{live_server.url}/?q=harbour"  # back on the same page
    assert html_lang(page) == ("fr", "ltr")
    assert page.inner_text("#step-hotel") == "1. Trouvez votre hôtel"
    assert page.inner_text("#language-choice >> option:checked") == "Français"

    # The choice is kept over the browser's language, page after page.
    page.goto(f"{live_server.url}/")
    assert html_lang(page) == ("fr", "ltr")


def test_arabic_is_right_to_left_and_fits_the_phone(phone_in, live_server, hotel, tmp_path):
    page = phone_in("ar")
    open_page(page, live_server, hotel)
    assert html_lang(page) == ("ar", "rtl")
    assert page.inner_text("#upload-submit") == "إرسال الصور"
    page.set_input_files("#id_images", photo_files(tmp_path, 2))
    page.locator("#photo-list li").nth(1).wait_for()
    page.check("#hotel-new")  # "my hotel is not listed": the proposal form opens
    page.click("#upload-submit")  # its empty fields: errors in place and in the summary
    page.locator("#error-new-name p").wait_for()
    test_pages.screenshot(page, "upload-arabic.png")

    assert overflow(page) <= 0
    # The start side is the right: the header begins there, and a photo's ✕ is on its left.
    brand = page.locator("header .brand").bounding_box()
    assert PHONE["width"] - (brand["x"] + brand["width"]) < 24
    photo = page.locator("#photo-list li").first.bounding_box()
    remove = page.locator("#photo-list .remove").first.bounding_box()
    assert remove["x"] - photo["x"] < photo["width"] / 2 - remove["width"]  # on the left
    for selector in (
        "#hotel-search button",
        "#language-choice",
        "header .language button",
        "#proposal-locate",
        "#upload-submit",
        "#photo-list .remove >> nth=1",
    ):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
        assert box["height"] >= 44, selector
