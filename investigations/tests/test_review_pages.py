"""Results as evidence (HTML pages): decisions, revisions, the compare view, history.

Searches here run the real matcher on small rendered room photos (see test_pages).
"""

import re

import pytest
from django.test import Client

from demo import images as demo_images
from investigations.models import AuditEntry, Decision, Search
from investigations.tests.test_pages import (
    SEARCH_URL,
    jpeg_upload,
    logged_in,
    room_style,
    seed_hotels,
)


@pytest.fixture
def searched(alice, django_capture_on_commit_callbacks):
    """(search, hotels): alice's search for a view of Seed Hotel 1 not in the gallery."""
    with django_capture_on_commit_callbacks(execute=True):
        hotels = seed_hotels()
    query = demo_images.photo_jpeg(room_style(1), 2)
    response = logged_in(alice).post(SEARCH_URL, {"image": jpeg_upload(query), "k": "10"})
    assert response.status_code == 302
    return Search.objects.get(), hotels


def results_url(search, revision=None):
    url = f"/investigate/searches/{search.pk}/"
    return f"{url}?revision={revision}" if revision else url


def first_match(search) -> int:
    return search.hotels[0]["matches"][0]["image_id"]


def decide(client, search, **fields):
    data = {"revision": "1", "verdict": "confirmed", **fields}
    return client.post(f"/investigate/searches/{search.pk}/decisions/", data)


# --- results ---


def test_results_show_each_match_as_evidence(alice, searched):
    search, hotels = searched
    html = logged_in(alice).get(results_url(search)).content.decode()
    image_id = first_match(search)
    compare = f"/investigate/searches/{search.pk}/compare/{image_id}/?revision=1"
    # The thumbnail and the "Compare" link open the compare view, not the thumbnail.
    assert re.search(rf'<a href="{re.escape(compare)}" class="inv-thumb"', html)
    assert "Compare side by side" in html
    assert "room 101" in html and "uploaded <time" in html
    assert "2 photos of this hotel in the gallery" in html
    assert re.search(r"Verified: \d+ matching points? in a consistent layout|Not verified", html)
    assert re.search(r'<img src="[^"]+\?side=pair" loading="lazy"', html)  # the heat-map pair
    assert 'id="score-help"' in html and "How to read a score" in html
    assert html.count('name="verdict" value="confirmed"') == 3 + sum(
        len(hit["matches"]) for hit in search.hotels
    )
    assert 'id="refine-form"' in html
    assert re.search(r'aria-current="page">Revision 1</a>', html)


def test_results_list_the_distance_from_the_photos_gps_position(alice, searched):
    search, _ = searched
    search.query_exif = {"gps_latitude": 45.52, "gps_longitude": -122.68}
    search.save()
    html = logged_in(alice).get(results_url(search)).content.decode()
    assert 'id="map-query-point"' in html and '"lat": 45.52' in html
    assert "km from where the query photo was taken" in html
    assert 'id="query-distances"' in html


# --- decisions ---


def test_confirming_a_hotel_shows_on_the_results_and_in_the_history(
    alice, alice_teammate, searched
):
    search, hotels = searched
    client = logged_in(alice)
    next_url = results_url(search, 1) + f"#hotel-{hotels[1].pk}"
    response = decide(client, search, hotel=hotels[1].pk, note="same carpet", next=next_url)
    assert response.status_code == 302 and response["Location"] == next_url
    decision = Decision.objects.get()
    assert (decision.verdict, decision.note, decision.image_id) == (
        "confirmed",
        "same carpet",
        None,
    )
    assert AuditEntry.objects.filter(action="decision", search_id=search.pk).count() == 1
    html = logged_in(alice_teammate).get(results_url(search)).content.decode()
    assert "Confirmed: “same carpet”" in html
    history = client.get("/investigate/searches/").content.decode()
    assert "confirmed: Seed Hotel 1" in history


def test_a_match_can_be_rejected_and_the_page_says_so(alice, searched):
    search, hotels = searched
    image_id = first_match(search)
    response = decide(
        logged_in(alice),
        search,
        hotel=search.hotels[0]["hotel"]["id"],
        image=image_id,
        verdict="rejected",
    )
    assert response.status_code == 302
    html = logged_in(alice).get(response["Location"]).content.decode()
    match = html[html.index(f'id="match-{image_id}"') :]
    assert "Rejected" in match[: match.index("</li>")]


def test_a_bad_decision_is_explained_in_place(alice, searched):
    search, _ = searched
    response = decide(logged_in(alice), search, hotel=999999)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="decision-errors"' in html and "not among this search" in html
    assert not Decision.objects.exists()


def test_decisions_are_for_the_team_only(bob, traveller, searched):
    search, hotels = searched
    assert decide(logged_in(bob), search, hotel=hotels[1].pk).status_code == 404
    assert decide(logged_in(traveller), search, hotel=hotels[1].pk).status_code == 403
    anonymous = decide(Client(), search, hotel=hotels[1].pk)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert not Decision.objects.exists()


# --- revisions ---


def test_refining_adds_a_revision_and_the_page_switches_between_them(alice, searched):
    search, hotels = searched
    client = logged_in(alice)
    response = client.post(
        f"/investigate/searches/{search.pk}/revisions/",
        {"revision": "1", "country": "us", "k": "5", "region": ""},
    )
    assert response.status_code == 302 and response["Location"] == results_url(search, 2)
    html = client.get(response["Location"]).content.decode()
    assert re.search(r'aria-current="page">Revision 2</a>', html)
    assert "country US" in html and "Revision 1" in html
    assert [h["hotel"]["id"] for h in Search.objects.get().hotels] == [hotels[0].pk]
    assert html.count('class="inv-card hotel-result') == 1
    older = client.get(results_url(search, 1)).content.decode()
    assert older.count('class="inv-card hotel-result') == 3
    assert re.search(r'aria-current="page">Revision 1</a>', older)
    assert client.get(results_url(search, 9)).status_code == 404
    history = client.get("/investigate/searches/").content.decode()
    assert "country US" in history and "<td>2</td>" in history


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"country": "USA"}, "two-letter"),
        ({"latitude": "45.5"}, "Give both latitude and longitude"),
        ({"region": "0,0,9000,9000"}, "is not inside"),
    ],
)
def test_a_bad_refinement_keeps_the_entered_values(alice, searched, fields, reason):
    search, _ = searched
    data = {"revision": "1", "k": "20", "city": "Lyon", **fields}
    response = logged_in(alice).post(f"/investigate/searches/{search.pk}/revisions/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="refine-errors"' in html and reason in html
    assert 'name="city" value="Lyon"' in html and '<option value="20" selected>' in html
    for name, value in fields.items():
        assert f'name="{name}" value="{value}"' in html
    assert search.revisions.count() == 1


# --- compare ---


def test_compare_shows_the_query_beside_the_match(alice, searched):
    search, _ = searched
    image_id = first_match(search)
    response = logged_in(alice).get(
        f"/investigate/searches/{search.pk}/compare/{image_id}/?revision=1"
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert f"/investigate/searches/{search.pk}/query.jpg?revision=1" in html
    assert 'id="cmp-next"' in html and 'id="cmp-prev"' not in html  # the first match
    assert 'id="cmp-heat"' in html and 'id="cmp-points"' in html
    assert "room 101" in html.lower() and f'name="image" value="{image_id}"' in html


def test_compare_is_404_for_other_photos_and_other_teams(alice, bob, searched):
    search, _ = searched
    shown = {m["image_id"] for h in search.hotels for m in h["matches"]}
    url = f"/investigate/searches/{search.pk}/compare/{{}}/"
    assert logged_in(alice).get(url.format(max(shown) + 1000)).status_code == 404
    assert logged_in(bob).get(url.format(first_match(search))).status_code == 404
    assert logged_in(alice).get(url.format(first_match(search)) + "?revision=5").status_code == 404
