"""In headless Chromium: the pages run under the Content-Security-Policy with no
violation (scripts, styles, the map, the eraser, the enrolment QR code).

A violation is caught twice: the page's `securitypolicyviolation` events, and
Chromium's console messages about the policy.
"""

import pytest

from accounts.testing import browser_login
from investigations.cases import case_create, search_attach
from investigations.services import investigator_create
from investigations.tests.test_browser import chromium  # noqa: F401  (the fixture)
from investigations.tests.test_pages import HOTEL_HIT, stored_search

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.real_second_factor]

PASSWORD = "correct-horse-battery-staple"
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""

ALLOWS_GEOLOCATION = "document.featurePolicy.allowsFeature('geolocation')"


def watched_page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(LISTEN)
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text or "Permissions policy" in message.text
            else None
        ),
    )
    return page, console


def violations(page, console) -> list[str]:
    return [*page.evaluate("window.__cspViolations"), *console]


@pytest.mark.django_db(transaction=True)
def test_pages_run_without_a_policy_violation(chromium, live_server, hotel, django_user_model):  # noqa: F811
    user, _ = investigator_create(username="vera", team_name="Team V", password=PASSWORD)
    hits = [
        {**HOTEL_HIT, "rank": rank, "hotel": {**HOTEL_HIT["hotel"], "id": rank, "name": f"H{rank}"}}
        for rank in (1, 2)
    ]
    exif = {
        "gps_latitude": 45.6,
        "gps_longitude": -122.6,
        "datetime_original": "2024:05:01 10:00:00",
    }
    search = stored_search(user, hotels=hits, exif=exif)
    case = case_create(user=user, reference="V-1", title="One room")
    search_attach(search=search, user=user, case=case)
    page, console = watched_page(chromium)
    seen = {}

    # The upload page: the hotel search (fetch), the photo inputs, "use my location".
    page.goto(f"{live_server.url}/")
    page.wait_for_load_state("networkidle")
    page.fill("input[type=search]", "Harbour")
    page.wait_for_timeout(800)
    seen["/"] = violations(page, console)
    assert page.evaluate(ALLOWS_GEOLOCATION)  # the upload page's "use my location"

    # Login, enrolment (the inline SVG QR code), then the investigator pages.
    browser_login(page, live_server.url, "vera", PASSWORD)
    seen["login+enrolment"] = violations(page, console)
    assert not page.evaluate(ALLOWS_GEOLOCATION)  # nowhere else
    page.wait_for_selector("#eraser-ui, input[name=image]")
    seen["/investigate/"] = violations(page, console)

    page.goto(f"{live_server.url}/investigate/searches/{search.pk}/")
    page.wait_for_selector("#results-map .leaflet-interactive")
    page.wait_for_load_state("networkidle")
    seen["results"] = violations(page, console)

    for url in (
        "/investigate/searches/",
        "/investigate/cases/",
        f"/investigate/cases/{case.pk}/",
        "/accounts/tokens/",
        "/api/docs/",
    ):
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        seen[url] = violations(page, console)

    # The admin, as a superuser (who enrols a second factor too).
    page.context.clear_cookies()
    django_user_model.objects.create_superuser("ada", "ada@example.org", PASSWORD)
    browser_login(page, live_server.url, "ada", PASSWORD, next_url="/admin/")
    for url in ("/admin/", "/admin/auth/user/add/", "/admin/rooms/hotel/add/"):
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        seen[url] = violations(page, console)

    # The watch works: an injected inline script is blocked, and seen.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.append(s); }"
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in found for found in page.evaluate("window.__cspViolations"))
    page.close()
    assert {url: found for url, found in seen.items() if found} == {}
