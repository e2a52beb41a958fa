"""Case-file exports and the authorised query-photo view."""

import csv
import io
import json

import pytest

from investigations.models import AuditEntry

HOTELS = [
    {
        "rank": 1,
        "score": 2.5,
        "hotel": {
            "id": 7,
            "name": '=HYPERLINK("http://evil")',
            "chain": "Harbour Inns",
            "city": "Portland",
            "country_code": "US",
            "latitude": 45.52,
            "longitude": -122.68,
        },
        "matches": [
            {
                "image_id": 11,
                "score": 0.9,
                "url": "/media/rooms/ab/1.jpg",
                "room_number": "12 B",
                "verified": True,
                "inliers": 37,
            },
            {"image_id": 12, "score": 0.8, "url": "/media/rooms/ab/2.jpg"},
        ],
    }
]
CHAINS = [{"rank": 1, "score": 2.5, "chain": {"id": 3, "name": "Harbour Inns"}}]


@pytest.fixture
def search(alice, make_search):
    return make_search(
        alice, hotels=HOTELS, chains=CHAINS, filters={"country": "US"}, verified_lift=0.3
    )


def test_json_export(search, alice_teammate, client_for):
    response = client_for(alice_teammate).get(f"/api/searches/{search.pk}/export.json")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="search-{search.pk}.json"'
    assert response["Cache-Control"] == "private, no-store"
    data = json.loads(response.content)
    assert data["search_id"] == str(search.pk)
    assert data["investigator"] == "alice" and data["team"] == "Team A"
    assert data["query_sha256"] == search.query_sha256
    assert data["filters"] == {"country": "US"} and data["model_version"] == "test-version"
    assert data["verified_lift"] == 0.3  # what a score's lift meant in this search
    assert data["created_at"] == search.created_at.isoformat()
    match = data["hotels"][0]["matches"][0]
    assert (match["image_id"], match["score"]) == (11, 0.9)
    assert match["url"] == "http://testserver/media/rooms/ab/1.jpg"
    assert (match["room_number"], match["verified"], match["inliers"]) == ("12 B", True, 37)
    assert (
        match["compare_url"]
        == f"http://testserver/investigate/searches/{search.pk}/compare/11/?revision=1"
    )
    assert data["hotels"][0]["matches"][1]["room_number"] is None  # stored before rooms were kept
    assert data["chains"] == CHAINS
    entry = AuditEntry.objects.get(search_id=search.pk)
    assert (entry.action, entry.username, entry.search_id) == (
        "export_json",
        "alice_teammate",
        search.pk,
    )


def test_csv_export(search, alice, client_for):
    response = client_for(alice).get(f"/api/searches/{search.pk}/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["search_id"] == str(search.pk) and row["investigator"] == "alice"
    assert row["query_sha256"] == search.query_sha256
    assert json.loads(row["filters"]) == {"country": "US"}
    assert (row["rank"], row["score"], row["hotel_id"]) == ("1", "2.5", "7")
    assert row["hotel_name"].startswith("'=")  # no formula runs when a case file is opened
    assert row["longitude"] == "-122.68"  # numbers are left alone
    assert row["match_image_ids"] == "11 12" and row["match_scores"] == "0.9 0.8"
    assert row["match_urls"].split() == [
        "http://testserver/media/rooms/ab/1.jpg",
        "http://testserver/media/rooms/ab/2.jpg",
    ]
    assert row["match_room_numbers"] == "12_B n/a" and row["match_inliers"] == "37 n/a"
    assert row["match_verified"] == "True False" and row["decision"] == ""


def test_exports_carry_decisions(search, alice, client_for):
    from investigations.services import decision_record

    decision_record(search=search, user=alice, hotel_id=7, verdict="confirmed", note="same lamp")
    decision_record(search=search, user=alice, hotel_id=7, image_id=12, verdict="rejected")
    row = next(
        csv.DictReader(
            io.StringIO(
                client_for(alice).get(f"/api/searches/{search.pk}/export.csv").content.decode()
            )
        )
    )
    assert (row["decision"], row["decision_note"]) == ("confirmed", "same lamp")
    assert row["match_decisions"] == "n/a rejected"
    data = json.loads(client_for(alice).get(f"/api/searches/{search.pk}/export.json").content)
    assert [(d["image_id"], d["verdict"], d["investigator"]) for d in data["decisions"]] == [
        (None, "confirmed", "alice"),
        (12, "rejected", "alice"),
    ]
    assert data["hotels"][0]["decision"] == "confirmed"


def test_csv_of_a_search_without_results_still_names_it(alice, make_search, client_for):
    empty = make_search(alice)
    rows = list(
        csv.DictReader(
            io.StringIO(
                client_for(alice).get(f"/api/searches/{empty.pk}/export.csv").content.decode()
            )
        )
    )
    assert [(r["search_id"], r["rank"]) for r in rows] == [(str(empty.pk), "")]


def test_query_image_is_served_privately(search, alice_teammate, client_for):
    response = client_for(alice_teammate).get(f"/api/searches/{search.pk}/query-image")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == search.query_image.open("rb").read()
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "inline"
    assert AuditEntry.objects.get(search_id=search.pk).action == "query_image"


def test_purged_photo_is_a_404(search, alice, client_for):
    search.query_image.storage.delete(search.query_image.name)
    assert client_for(alice).get(f"/api/searches/{search.pk}/query-image").status_code == 404


@pytest.mark.parametrize("lift", [0.3, None], ids=["recorded", "before recording"])
def test_results_pages_state_the_lift_their_search_ran_with(alice, make_search, client_for, lift):
    search = make_search(alice, hotels=HOTELS, chains=CHAINS, verified_lift=lift)
    client = client_for(alice)
    results = client.get(f"/investigate/searches/{search.pk}/").content.decode()
    compare = client.get(f"/investigate/searches/{search.pk}/compare/11/").content.decode()
    for page in (results, compare):
        if lift is None:  # the lifts served then, and why no number is sure
            assert "plus up to 0.5 or 0.35" in page and "before its lift was recorded" in page
        else:
            assert "plus up to 0.3 when" in page and "before its lift" not in page
    api = client.get(f"/api/searches/{search.pk}/").json()
    assert api["verified_lift"] == lift
