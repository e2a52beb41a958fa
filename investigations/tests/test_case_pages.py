"""Case pages: the team's cases, a case's workspace, legal hold, attaching a search and
"same room" (the combined ranking), the search page's case choice, the team's history
filters and thumbnails."""

import io
import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image

from investigations.cases import case_create
from investigations.models import AuditEntry, Case, Decision, Search
from investigations.tests.audit_support import access_entries
from investigations.tests.test_pages import (
    HOTEL_HIT,
    exif_jpeg,
    jpeg_upload,
    logged_in,
    stored_search,
)

CASES_URL = "/investigate/cases/"


def hit(hotel_id, rank, score, name=None, lat=45.5):
    hotel = {**HOTEL_HIT["hotel"], "id": hotel_id, "name": name or f"Hotel {hotel_id}"}
    return {**HOTEL_HIT, "rank": rank, "score": score, "hotel": {**hotel, "latitude": lat}}


def in_case(search, case, same_room=False):
    search.case, search.same_room = case, same_room
    search.save()
    return search


@pytest.fixture
def case(alice):
    return case_create(user=alice, reference="OP-7", title="Harbour rooms", notes="Two rooms")


def case_url(case, tail=""):
    return f"{CASES_URL}{case.pk}/{tail}"


def html_of(response):
    return response.content.decode()


# --- access ---


def test_case_pages_need_an_investigator_of_the_team(case, alice_teammate, bob, traveller):
    search = stored_search(case.created_by)
    pages = [CASES_URL, case_url(case)]
    for url in pages:
        assert Client().get(url)["Location"] == f"/accounts/login/?next={url}"
        assert logged_in(traveller).get(url).status_code == 403
        assert logged_in(alice_teammate).get(url).status_code == 200
    for url in (case_url(case), case_url(case, "edit/"), case_url(case, "hold/")):
        assert logged_in(bob).get(url).status_code == 404
    for url in (case_url(case, "edit/"), case_url(case, "hold/")):
        assert logged_in(bob).post(url, {"legal_hold": "on", "title": "x"}).status_code == 404
    attach = f"/investigate/searches/{search.pk}/case/"
    assert logged_in(bob).post(attach, {"case": ""}).status_code == 404
    assert logged_in(traveller).post(attach, {"case": ""}).status_code == 403
    case.refresh_from_db()
    assert not case.legal_hold and case.title == "Harbour rooms"


# --- the list and opening a case ---


def test_case_list_shows_the_teams_cases_only(case, alice_teammate, bob):
    other = case_create(user=bob, reference="B-1", title="Bob's case")
    in_case(stored_search(case.created_by), case)
    html = html_of(logged_in(alice_teammate).get(CASES_URL))
    assert "OP-7" in html and "Harbour rooms" in html and "B-1" not in html
    assert re.search(r"OP-7</a></td>\s*<td>Harbour rooms</td>\s*<td>1</td>", html)
    assert f'href="{case_url(case)}"' in html and f"{other.pk}" not in html
    assert 'href="/investigate/cases/" aria-current="page"' in html  # the nav


def test_opening_a_case_goes_to_it_and_is_audited(alice):
    response = logged_in(alice).post(
        CASES_URL, {"reference": " OP-9 ", "title": "Third room", "notes": "from a tip"}
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == case_url(case)
    assert (case.reference, case.created_by, case.notes) == ("OP-9", alice, "from a tip")
    assert AuditEntry.objects.filter(case_id=case.pk, action="case_create").exists()


@pytest.mark.parametrize(
    "fields, field, reason",
    [
        ({"reference": "OP-7", "title": "Again"}, "reference", "already has a case"),
        ({"reference": "OP-8", "title": ""}, "title", "This field is required"),
        ({"reference": "", "title": "No number"}, "reference", "This field is required"),
    ],
)
def test_a_refused_case_keeps_the_values_and_says_why_in_place(case, fields, field, reason):
    response = logged_in(case.created_by).post(CASES_URL, {**fields, "notes": "kept note"})
    assert response.status_code == 400
    html = html_of(response)
    assert 'id="case-errors"' in html and "kept note" in html
    wrapper = html[html.index(f'data-field="{field}"') :]
    assert reason in wrapper[: wrapper.index("</div>")]
    assert Case.objects.count() == 1


# --- the case page ---


def test_case_page_shows_each_photo_with_its_metadata_and_is_audited(case, alice):
    exif = {
        "camera_make": "Canon",
        "camera_model": "EOS 5D",
        "captured_at": "2026-03-14T21:05:09",
        "gps_latitude": 45.51,
        "gps_longitude": -122.67,
    }
    search = in_case(stored_search(alice, hotels=[HOTEL_HIT], exif=exif), case)
    Decision.objects.create(
        search=search, revision=1, hotel_id=7, hotel_name="Harbour Inn Riverside",
        verdict="confirmed", created_by=alice,
    )  # fmt: skip
    response = logged_in(alice).get(case_url(case))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = html_of(response)
    assert "Harbour rooms" in html and "Two rooms" in html
    assert f'src="/investigate/searches/{search.pk}/query.jpg?size=thumb"' in html
    assert "2026-03-14 21:05" in html and "Canon EOS 5D" in html and "45.51000, -122.67000" in html
    assert "Harbour Inn Riverside" in html and "confirmed: Harbour Inn Riverside" in html
    assert f'href="/api/cases/{case.pk}/report.pdf"' in html
    assert f'href="/investigate/?case={case.pk}"' in html
    entry = AuditEntry.objects.get(action="case_view")
    assert (entry.case_id, entry.username) == (case.pk, "alice")
    data = json.loads(re.search(r'id="case-map-data"[^>]*>(.*?)</script>', html).group(1))
    assert data["photos"] == [{"label": "Photo 1", "lat": 45.51, "lon": -122.67}]
    assert data["hotels"][0]["hotel_id"] == 7 and data["hotels"][0]["confirmed"]
    assert "vendor/leaflet/leaflet.js" in html and "case-map.js" in html


def test_an_empty_case_says_how_to_fill_it(case):
    html = html_of(logged_in(case.created_by).get(case_url(case)))
    assert 'id="no-photos"' in html and 'id="no-combined"' in html
    assert 'id="no-map"' in html and "case-map.js" not in html


def test_timeline_orders_the_photos_by_capture_time_and_lists_the_undated_apart(case, alice):
    times = ["2026-05-02T10:00:00", None, "2026-03-01T08:30:00+02:00"]
    for captured in times:
        in_case(stored_search(alice, exif={"captured_at": captured} if captured else {}), case)
    html = html_of(logged_in(alice).get(case_url(case)))
    timeline = html[html.index('id="case-timeline"') : html.index('id="case-undated"')]
    # Photo 3 (March) before photo 1 (May), 62 days apart; photo 2 has no time.
    assert timeline.index("Photo 3") < timeline.index("Photo 1")
    assert "62 days after the first" in timeline and "Photo 2" not in timeline
    undated = html[html.index('id="case-undated"') :]
    assert "Photo 2" in undated[: undated.index("</p>")]
    assert 'style="left: 0.0%"' in html and 'style="left: 100.0%"' in html


def test_editing_title_and_notes(case):
    client = logged_in(case.created_by)
    response = client.post(case_url(case, "edit/"), {"title": "Renamed", "notes": "new lead"})
    assert response.status_code == 302 and response["Location"] == case_url(case)
    case.refresh_from_db()
    assert (case.title, case.notes) == ("Renamed", "new lead")
    refused = client.post(case_url(case, "edit/"), {"title": "", "notes": "lost?"})
    assert refused.status_code == 400
    html = html_of(refused)
    assert 'id="case-errors"' in html and "lost?" in html and "Renamed" in html
    case.refresh_from_db()
    assert case.notes == "new lead"
    assert client.get(case_url(case, "edit/"))["Location"] == case_url(case)


def test_legal_hold_is_put_on_shown_and_released(case, alice_teammate):
    client = logged_in(alice_teammate)
    assert client.post(case_url(case, "hold/"), {"legal_hold": "on"}).status_code == 302
    case.refresh_from_db()
    assert case.legal_hold and case.legal_hold_by == alice_teammate
    html = html_of(client.get(case_url(case)))
    assert "On legal hold" in html and "alice_teammate" in html
    assert "Release the legal hold" in html
    assert "On hold" in html_of(client.get(CASES_URL))
    client.post(case_url(case, "hold/"), {"legal_hold": "off"})
    case.refresh_from_db()
    assert not case.legal_hold and case.legal_hold_by is None
    actions = AuditEntry.objects.filter(case_id=case.pk).values_list("action", flat=True)
    assert {"legal_hold", "legal_hold_release"} <= set(actions)


def test_same_room_changes_the_combined_ranking(case, alice):
    first = in_case(stored_search(alice, hotels=[hit(1, 1, 0.9), hit(2, 2, 0.8)]), case)
    second = in_case(stored_search(alice, hotels=[hit(2, 1, 0.85), hit(3, 2, 0.5)]), case)
    client = logged_in(alice)

    def mark(search, same_room):
        data = {"case": case.pk, "next": case_url(case)} | (
            {"same_room": "on"} if same_room else {}
        )
        response = client.post(f"/investigate/searches/{search.pk}/case/", data)
        assert response.status_code == 302 and response["Location"] == case_url(case)

    def combined():
        html = html_of(client.get(case_url(case)))
        if 'id="combined-ranking"' not in html:
            return []
        table = html[html.index('id="combined-ranking"') : html.index("</table>")]
        return [int(i) for i in re.findall(r'<tr data-hotel-id="(\d+)"', table)]

    assert combined() == []
    mark(first, True)
    assert combined() == [1, 2]
    mark(second, True)
    assert combined()[0] == 2  # both photos list hotel 2
    assert "2 of 2" in html_of(client.get(case_url(case)))
    mark(first, False)
    assert combined() == [2, 3]
    first.refresh_from_db()
    assert first.case == case and not first.same_room


# --- the results page's case box ---


def test_results_page_moves_a_search_between_cases(case, alice, bob):
    other = case_create(user=alice, reference="OP-8", title="Second")
    bobs = case_create(user=bob, reference="B-1", title="Bob's")
    search = stored_search(alice, hotels=[HOTEL_HIT])
    client = logged_in(alice)
    url = f"/investigate/searches/{search.pk}/"
    html = html_of(client.get(url))
    assert "Not in a case" in html and f"/api/searches/{search.pk}/report.pdf" in html
    assert "OP-7: Harbour rooms" in html and "OP-8: Second" in html and "B-1" not in html

    response = client.post(f"{url}case/", {"case": other.pk, "same_room": "on", "next": url})
    assert response.status_code == 302 and response["Location"] == url
    search.refresh_from_db()
    assert search.case == other and search.same_room
    html = html_of(client.get(url))
    assert f'href="{case_url(other)}">OP-8: Second</a>' in html

    refused = client.post(f"{url}case/", {"case": bobs.pk})
    assert refused.status_code == 400 and 'id="attach-errors"' in html_of(refused)
    client.post(f"{url}case/", {"case": "", "same_room": "on"})
    search.refresh_from_db()
    assert search.case is None and not search.same_room
    assert AuditEntry.objects.filter(search_id=search.pk, action="case_attach").count() == 2


# --- the search page ---


def test_search_page_offers_the_teams_cases(case, bob):
    case_create(user=bob, reference="B-1", title="Bob's")
    html = html_of(logged_in(case.created_by).get(f"/investigate/?case={case.pk}"))
    assert re.search(rf'<option value="{case.pk}" selected>OP-7: Harbour rooms</option>', html)
    assert "B-1" not in html
    assert 'name="new_case_reference"' in html and 'name="new_case_title"' in html


def test_a_search_goes_into_the_chosen_case(case, image_bytes):
    response = logged_in(case.created_by).post(
        "/investigate/", {"image": jpeg_upload(image_bytes()), "k": "10", "case": case.pk}
    )
    assert response.status_code == 302
    assert Search.objects.get().case == case


def test_a_search_opens_a_new_case_with_it(alice, image_bytes):
    data = {"new_case_reference": "OP-10", "new_case_title": "Tip line"}
    response = logged_in(alice).post(
        "/investigate/", {"image": jpeg_upload(image_bytes()), "k": "10", **data}
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert (case.reference, case.title, case.team.name) == ("OP-10", "Tip line", "Team A")
    assert Search.objects.get().case == case


@pytest.mark.parametrize(
    "fields, field, reason",
    [
        ({"new_case_reference": "OP-7", "new_case_title": "x"}, "new_case_reference", "already"),
        ({"new_case_reference": "OP-11"}, "new_case_title", "Give the new case a title"),
        (
            {"new_case_reference": "OP-11", "new_case_title": "x", "case": "chosen"},
            "new_case_reference",
            "not both",
        ),
    ],
)
def test_a_refused_case_choice_is_explained_in_place(case, image_bytes, fields, field, reason):
    data = {**fields, "case": case.pk} if fields.get("case") else fields
    response = logged_in(case.created_by).post(
        "/investigate/", {"image": jpeg_upload(image_bytes()), "k": "10", **data}
    )
    assert response.status_code == 400
    html = html_of(response)
    wrapper = html[html.index(f'data-field="{field}"') :]
    assert reason in wrapper[: wrapper.index("</div>")]
    assert Case.objects.count() == 1 and not Search.objects.exists()


def test_a_refused_photo_leaves_no_new_case(alice):
    data = {"new_case_reference": "OP-12", "new_case_title": "x", "k": "10"}
    response = logged_in(alice).post("/investigate/", {"image": jpeg_upload(b"no photo"), **data})
    assert response.status_code == 400
    assert not Case.objects.exists() and not access_entries().exists()


# --- the team's history ---


def test_history_shows_thumbnails_and_cases(case, alice):
    search = in_case(stored_search(alice, hotels=[HOTEL_HIT]), case)
    html = html_of(logged_in(alice).get("/investigate/searches/"))
    assert f'src="/investigate/searches/{search.pk}/query.jpg?size=thumb"' in html
    assert f'<a href="{case_url(case)}" title="Harbour rooms">OP-7</a>' in html


def test_history_filters_by_case_investigator_and_date(case, alice, alice_teammate):
    in_case_search = in_case(stored_search(alice), case)
    teammates = stored_search(alice_teammate)
    old = stored_search(alice)
    Search.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    client = logged_in(alice)

    def listed(**query):
        html = html_of(client.get("/investigate/searches/", query))
        return {s.pk for s in (in_case_search, teammates, old) if str(s.pk) in html}

    assert listed() == {in_case_search.pk, teammates.pk, old.pk}
    assert listed(case=case.pk) == {in_case_search.pk}
    assert listed(investigator=alice_teammate.pk) == {teammates.pk}
    today = timezone.now().date()
    assert listed(date_to=str(today - timedelta(days=5))) == {old.pk}
    assert listed(date_from=str(today - timedelta(days=1))) == {in_case_search.pk, teammates.pk}
    html = html_of(client.get("/investigate/searches/", {"date_from": "not a date"}))
    assert "Enter a valid date" in html and str(old.pk) in html  # shown, not applied


def test_history_pages_keep_the_filters(alice, monkeypatch):
    monkeypatch.setattr("investigations.views.RECENT_PER_PAGE", 2)
    for _ in range(3):
        stored_search(alice)
    html = html_of(logged_in(alice).get("/investigate/searches/", {"investigator": alice.pk}))
    assert f'href="?investigator={alice.pk}&amp;page=2"' in html


def test_history_offers_only_the_teams_investigators_and_cases(case, bob):
    case_create(user=bob, reference="B-1", title="Bob's")
    html = html_of(logged_in(case.created_by).get("/investigate/searches/"))
    assert "OP-7: Harbour rooms" in html and "B-1" not in html
    assert ">alice<" in html and ">bob<" not in html


def test_query_preview_thumbnail_is_small_and_audited(alice):
    search = stored_search(alice, data=exif_jpeg(size=(1200, 800)))
    response = logged_in(alice).get(f"/investigate/searches/{search.pk}/query.jpg?size=thumb")
    assert Image.open(io.BytesIO(response.content)).size == (320, 213)
    assert access_entries().get().action == "query_image"
