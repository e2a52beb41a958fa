"""axe-core finds no WCAG 2.0/2.1 A or AA violation (nor a best-practice one) on the
traveller pages on a phone (390×844), in English and in Arabic (right to left): the
upload page empty, with its errors shown and with "my hotel is not listed" open, the
thank-you page, and the receipt page before and after a refused withdrawal.

axe comes from npm (testsupport/axe.py); the browser is Debian's Chromium
(rooms/tests/test_i18n_phone.py's `phone_in`).
"""

import pytest

from rooms.tests.test_i18n_phone import phone_in  # noqa: F401 (fixture)
from rooms.tests.test_upload_phone import THANKS, open_page, photo_files
from testsupport.axe import axe_violations, format_violations

pytestmark = [pytest.mark.slow, pytest.mark.browser]


class Audit:
    """axe's findings, state by state, reported together at the end."""

    def __init__(self, page):
        self.page = page
        self.found: dict[str, list[dict]] = {}

    def check(self, state: str):
        violations = axe_violations(self.page)
        if violations:
            self.found[state] = violations

    def report(self) -> str:
        return "\n\n".join(f"{state}\n{format_violations(v)}" for state, v in self.found.items())


def audit_upload_page(audit, live_server, hotel, tmp_path, language):
    page = audit.page
    page.goto(f"{live_server.url}/")
    audit.check(f"upload page, empty ({language})")

    open_page(page, live_server, hotel)
    page.set_input_files("#id_images", [*photo_files(tmp_path, 4), str(pdf(tmp_path))])
    page.locator("#photo-list li").nth(3).wait_for()
    page.fill("#id_room_number", "")
    page.click("#upload-submit")
    page.locator("#error-summary-list li").first.wait_for()
    audit.check(f"upload page, photos chosen and errors shown ({language})")

    page.check("#hotel-new")
    page.click("#upload-submit")
    page.locator("#error-new-name p").wait_for()
    audit.check(f"upload page, 'my hotel is not listed' open with errors ({language})")


def pdf(tmp_path):
    path = tmp_path / "booking.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
    return path


@pytest.mark.parametrize("locale", ["en-GB", "ar"])
def test_upload_page(phone_in, live_server, hotel, tmp_path, locale):  # noqa: F811
    page = phone_in(locale)
    audit = Audit(page)
    audit_upload_page(audit, live_server, hotel, tmp_path, locale)
    assert page.evaluate("() => document.documentElement.lang") == locale[:2]
    assert not audit.found, audit.report()


def test_thank_you_and_receipt_pages(phone_in, live_server, hotel, tmp_path):  # noqa: F811
    page = phone_in("en-GB")
    audit = Audit(page)
    open_page(page, live_server, hotel)
    page.set_input_files("#id_images", photo_files(tmp_path, 2))
    page.locator("#photo-list li").nth(1).wait_for()
    page.click("#upload-submit")
    page.wait_for_url(THANKS)
    thanks = page.url
    audit.check("thank-you page")

    page.click("#receipt-link")
    page.locator("#withdraw-title").wait_for()
    audit.check("receipt page")
    # Without the box ticked (a browser that does not check `required` itself).
    page.evaluate("() => { document.querySelector('form.withdraw').noValidate = true; }")
    with page.expect_navigation():
        page.click("form.withdraw button[type=submit]")
    assert page.locator("#confirm-error").is_visible()
    audit.check("receipt page, withdrawal not confirmed")

    page.select_option("#language-choice", "ar")
    with page.expect_navigation():
        page.click("header .language button")
    assert page.evaluate("() => document.documentElement.dir") == "rtl"
    audit.check("receipt page (ar)")
    page.goto(thanks)
    audit.check("thank-you page (ar)")
    assert not audit.found, audit.report()
