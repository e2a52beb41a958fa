"""axe-core finds no WCAG 2.0/2.1 A or AA violation (nor a best-practice one) on the
investigator and account pages, at desktop size and on a phone, in each state a person
meets: empty, with errors, with results, decided, refined.

axe comes from npm (testsupport/axe.py); the browser is Debian's Chromium, as in
investigations/tests/test_browser.py, whose fixture and URLs (traveller photos served
for the thumbnails) these tests reuse.
"""

import re

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.testing import browser_login, totp_code
from investigations.models import Case
from investigations.tests import test_browser
from investigations.tests.conftest import PASSWORD
from investigations.tests.test_browser import drag, sideways_phone_photo
from investigations.tests.test_pages import seed_hotels
from testsupport.axe import WCAG, axe_violations, format_violations

pytestmark = [pytest.mark.slow, pytest.mark.browser]
chromium = test_browser.chromium
BROWSER_URLS = "investigations.tests.test_browser"

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Audit:
    """axe's findings page by page; `check` runs axe at each size and keeps what it finds."""

    def __init__(self, page):
        self.page = page
        self.found: dict[str, list[dict]] = {}
        self.checked: list[str] = []

    def check(self, name, sizes=(DESKTOP, PHONE), **axe_options):
        for size in sizes:
            self.page.set_viewport_size(size)
            label = f"{name} at {size['width']}x{size['height']}"
            self.checked.append(label)
            violations = axe_violations(self.page, **axe_options)
            if violations:
                self.found[label] = violations
        self.page.set_viewport_size(DESKTOP)

    def assert_clean(self):
        if self.found:
            report = "\n\n".join(
                f"{label}: {format_violations(v)}" for label, v in self.found.items()
            )
            pytest.fail(f"{len(self.found)} of {len(self.checked)} checks failed\n\n{report}")


def submit(page, selector):
    with page.expect_navigation():
        page.click(selector)


@pytest.mark.django_db(transaction=True)
def test_axe_runs_under_the_pages_csp_and_names_what_fails(chromium, live_server):
    page = chromium.new_page(viewport=DESKTOP)
    response = page.goto(f"{live_server.url}/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert axe_violations(page) == []
    page.evaluate("() => document.querySelector('main').append(document.createElement('button'))")
    violations = axe_violations(page)
    assert [v["id"] for v in violations] == ["button-name"]
    message = format_violations(violations)
    assert "button-name (critical)" in message and "main > button" in message


@pytest.mark.django_db(transaction=True)
def test_account_pages(chromium, live_server, alice, settings):
    settings.EMAIL_HOST = "smtp.example.org"  # password reset exists; the outbox catches it
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a right code at once after a wrong one
    settings.PASSWORD_RESET_PER_CLIENT_HOURLY = 1
    settings.AXES_FAILURE_LIMIT = 2
    page = chromium.new_page(viewport=DESKTOP)
    audit = Audit(page)
    base = live_server.url

    page.goto(f"{base}/accounts/login/?next=/investigate/")
    audit.check("login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong")
    submit(page, "form[action='/accounts/login/'] button[type=submit]")
    audit.check("login, wrong password")
    page.fill("input[name=password]", PASSWORD)
    submit(page, "form[action='/accounts/login/'] button[type=submit]")
    assert "/accounts/otp/setup/" in page.url
    audit.check("2FA enrolment")
    page.fill("input[name=code]", "000000")
    submit(page, "form[action='/accounts/otp/setup/'] button[type=submit]")
    audit.check("2FA enrolment, wrong code")
    device = TOTPDevice.objects.get(user=alice)
    page.fill("input[name=code]", totp_code(device))
    submit(page, "form[action='/accounts/otp/setup/'] button[type=submit]")
    page.wait_for_url(f"{base}/investigate/")

    page.goto(f"{base}/accounts/tokens/")
    audit.check("API tokens")
    page.fill("input[name=name]", "laptop script")
    submit(page, "form[action='/accounts/tokens/'] button[type=submit]")
    assert page.locator(".key").count() == 1
    audit.check("API tokens, a new key shown")
    submit(page, "#tokens button[type=submit]")  # revoke: a message on the page
    assert page.locator(".messages li").count() == 1
    audit.check("API tokens, one revoked")
    page.goto(f"{base}/accounts/password_change/")
    audit.check("password change")
    page.fill("input[name=old_password]", "wrong")
    submit(page, "main form button[type=submit]")
    audit.check("password change, refused")
    new_password = "another-long-passphrase-2026"
    page.fill("input[name=old_password]", PASSWORD)
    page.fill("input[name=new_password1]", new_password)
    page.fill("input[name=new_password2]", new_password)
    submit(page, "main form button[type=submit]")
    assert "/accounts/password_change/done/" in page.url
    audit.check("password changed")

    submit(page, "header form button[type=submit]")  # log out
    audit.check("logged out")
    page.goto(f"{base}/accounts/login/?next=/investigate/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", new_password)
    submit(page, "form[action='/accounts/login/'] button[type=submit]")
    assert "/accounts/otp/verify/" in page.url
    audit.check("2FA verify")
    page.fill("input[name=code]", "000000")
    submit(page, "form[action='/accounts/otp/verify/'] button[type=submit]")
    audit.check("2FA verify, wrong code")

    context = chromium.new_context(viewport=DESKTOP)  # a stranger's browser
    page = audit.page = context.new_page()
    page.goto(f"{base}/accounts/password_reset/")
    audit.check("password reset")
    alice.email = "alice@example.org"
    alice.save()
    page.fill("input[name=email]", "alice@example.org")
    submit(page, "form button[type=submit]")
    audit.check("password reset, sent")
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[0].body).group()
    page.goto(base + link[link.index("/accounts/") :])
    audit.check("password reset, new password")
    page.fill("input[name=new_password1]", "short")
    page.fill("input[name=new_password2]", "other")
    submit(page, "form button[type=submit]")
    audit.check("password reset, new password refused")
    page.fill("input[name=new_password1]", "a-new-long-passphrase-2026")
    page.fill("input[name=new_password2]", "a-new-long-passphrase-2026")
    submit(page, "form button[type=submit]")
    assert "/accounts/reset/done/" in page.url
    audit.check("password reset, done")
    page.goto(base + link[link.index("/accounts/") :])
    audit.check("password reset, link used")
    page.goto(f"{base}/accounts/password_reset/")
    page.fill("input[name=email]", "alice@example.org")
    submit(page, "form button[type=submit]")
    assert "Too many password reset" in page.locator("h1").inner_text()
    audit.check("password reset, too many")
    page.goto(f"{base}/accounts/login/")
    for _ in range(2):
        page.fill("input[name=username]", "mallory")
        page.fill("input[name=password]", "guess")
        submit(page, "form[action='/accounts/login/'] button[type=submit]")
    assert page.locator("#lockout").count() == 1
    audit.check("login, locked out")
    context.close()

    audit.assert_clean()


@pytest.mark.django_db(transaction=True)
def test_investigator_pages(chromium, live_server, alice, settings, tmp_path):
    settings.ROOT_URLCONF = BROWSER_URLS
    seed_hotels()  # the gallery, embedded: searches have real matches
    photo, _ = sideways_phone_photo(tmp_path)
    page = chromium.new_page(viewport=DESKTOP)
    audit = Audit(page)
    base = live_server.url
    browser_login(page, base, "alice", PASSWORD)

    audit.check("search")
    page.set_input_files("input[name=image]", str(photo))
    page.wait_for_selector("#eraser-stage:not([hidden])")
    drag(page, "#eraser-ui", (0.3, 0.3), (0.5, 0.6))
    audit.check("search, photo painted")
    page.fill("input[name=radius_km]", "99999")
    page.fill("input[name=latitude]", "45.5")
    page.fill("input[name=longitude]", "-122.6")
    page.click("#search-submit")
    page.wait_for_selector("#form-errors")
    audit.check("search, refused")
    page.fill("input[name=radius_km]", "50")
    page.fill("input[name=latitude]", "")
    page.fill("input[name=longitude]", "")
    page.click("#search-submit")
    page.wait_for_url(re.compile(r".*/investigate/searches/[0-9a-f-]{36}/$"))
    results_url = page.url
    page.wait_for_selector("#results-map .leaflet-interactive")
    audit.check("results")

    page.locator(".inv-thumb").first.click()
    page.wait_for_url(re.compile(r".*/compare/\d+/\?revision=1$"))
    audit.check("compare")
    page.keyboard.press("h")  # heat maps
    page.keyboard.press("c")  # matching points
    page.wait_for_function(
        "() => /\\d+ matching point|No matching/"
        ".test(document.querySelector('#cmp-status').textContent)"
    )
    audit.check("compare, heat maps and points")

    page.goto(results_url)
    top = page.locator(".hotel-result").first
    top.locator(".inv-hotel-decision input[name=note]").fill("same headboard")
    top.locator(".inv-hotel-decision button[value=confirmed]").click()
    page.wait_for_selector(".hotel-result.inv-confirmed")
    page.click("#refine summary")
    page.fill("#refine-form input[name=country]", "US")
    page.click("#refine-submit")
    page.wait_for_url(re.compile(r".*\?revision=2$"))
    page.wait_for_selector("#results-map .leaflet-interactive")
    audit.check("results, revision 2")
    page.goto(results_url + "?revision=1")
    page.wait_for_selector("#results-map .leaflet-interactive")
    audit.check("results, revision 1 with a decision")

    page.goto(f"{base}/investigate/cases/")
    audit.check("cases, none")
    page.click("#case-submit")  # no reference: refused
    page.wait_for_selector("#case-errors")
    audit.check("cases, refused")
    page.fill("#case-form input[name=reference]", "OP-2026-17")
    page.fill("#case-form input[name=title]", "Two photos, one room")
    page.click("#case-submit")
    page.wait_for_selector("#no-photos")
    audit.check("case, empty")
    for _ in range(2):
        page.click("#case-add-photo")
        page.set_input_files("input[name=image]", str(photo))
        page.wait_for_selector("#eraser-stage:not([hidden])")
        page.click("#search-submit")
        page.wait_for_url(re.compile(r".*/investigate/searches/[0-9a-f-]{36}/$"))
        page.click("#case-link a")
        page.wait_for_selector("#case-photos")
    for number in (1, 2):
        page.check(f"#same-room-{number}")
        submit(page, f"#photo-{number} .case-same-room button")
    page.wait_for_selector("#combined-ranking")
    page.wait_for_selector("#case-map .leaflet-interactive")
    audit.check("case, two photos of one room")
    page.click("#hold-toggle")
    page.wait_for_selector("#hold-state strong")
    page.click("#case-edit summary")
    audit.check("case, on legal hold, editing")
    page.goto(f"{base}/investigate/cases/")
    audit.check("cases")
    assert Case.objects.count() == 1

    page.goto(f"{base}/investigate/searches/")
    audit.check("search history")
    page.goto("about:blank")  # stop lazy heat maps loading while the test database goes
    audit.assert_clean()


@pytest.mark.django_db(transaction=True)
def test_api_docs(chromium, live_server):
    """Swagger UI's page, with our colours (templates/drf_spectacular/swagger_ui.html): the
    WCAG rules. axe's best practices are left out here: the two it finds are Swagger UI's
    own markup (its tag headings are h3 under the h1, its title block is outside its
    <main>)."""
    page = chromium.new_page(viewport=DESKTOP)
    audit = Audit(page)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock")
    audit.check("API docs", sizes=(DESKTOP,), tags=WCAG)
    page.click(".opblock-summary-control >> nth=0")  # an operation opened
    page.wait_for_selector(".opblock-body")
    audit.check("API docs, an operation open", sizes=(DESKTOP,), tags=WCAG)
    audit.assert_clean()
