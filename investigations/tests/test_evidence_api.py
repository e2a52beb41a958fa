# ruff: noqa: F811 (pytest fixtures imported from test_search_api are arguments here)
"""Results as evidence through the API: what each match carries, heat maps and
correspondences, decisions and revisions (the real model on a tiny gallery)."""

import io

import numpy as np
import pytest
from PIL import Image

from investigations.models import AuditEntry, Decision, Search, SearchRevision
from investigations.selectors import labelled_pairs
from investigations.services import searches_purge_expired
from investigations.tests.test_search_api import (  # noqa: F401 (fixture)
    URL,
    gallery,
    jpeg,
    png_file,
    private_files,
    victim_query,
)


@pytest.fixture
def search_body(gallery, alice, client_for):
    image, mask = victim_query(gallery)
    response = client_for(alice).post(
        URL, {"image": jpeg(image), "mask": png_file(mask), "k": 3}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _actions(search_id):
    return list(
        AuditEntry.objects.filter(search_id=search_id)
        .order_by("pk")
        .values_list("action", flat=True)
    )


def test_each_match_carries_its_evidence(search_body, gallery):
    top = search_body["hotels"][0]
    assert top["hotel"]["name"] == "Harbour Docks"
    assert top["photo_count"] == 2 and top["decision"] is None
    match = top["matches"][0]
    assert match["room_number"] == "101" and match["uploaded_at"]
    assert isinstance(match["verified"], bool)
    assert match["inliers"] is None or match["inliers"] >= 0
    assert match["verified"] == (match["inliers"] is not None and match["inliers"] >= 6)
    assert match["score"] >= match["cosine"]  # the verification lift comes on top
    base = f"/api/searches/{search_body['id']}/revisions/1/matches/{match['image_id']}/"
    assert match["explanation_url"] == f"{base}heatmap.png?side=pair"
    assert match["correspondences_json_url"] == f"{base}correspondences.json"
    assert match["compare_url"].endswith(f"/compare/{match['image_id']}/?revision=1")
    assert search_body["revision"] == 1 and len(search_body["revisions"]) == 1


def test_heat_maps_and_correspondences_are_private_and_audited(search_body, alice, client_for):
    client = client_for(alice)
    match = search_body["hotels"][0]["matches"][0]
    pair = client.get(match["explanation_url"])
    assert pair.status_code == 200 and pair["Content-Type"] == "image/png"
    assert pair["Cache-Control"] == "private, no-store"
    layer = Image.open(io.BytesIO(client.get(match["heatmap_query_url"]).content))
    query = Image.open(io.BytesIO(Search.objects.get().query_image.read()))
    assert layer.mode == "RGBA"
    assert layer.width / layer.height == pytest.approx(query.width / query.height, rel=0.02)
    points = client.get(match["correspondences_json_url"]).json()
    assert points["inliers"] == len(points["pairs"])
    assert all(0 <= value <= 1 for row in points["pairs"] for value in row)
    lines = client.get(match["correspondences_url"])
    assert lines.status_code == 200 and lines.content.startswith(b"\x89PNG")
    assert _actions(search_body["id"]).count("explanation") == 4


def test_evidence_of_a_photo_that_was_not_shown_is_a_404(search_body, alice, client_for):
    shown = {m["image_id"] for h in search_body["hotels"] for m in h["matches"]}
    base = f"/api/searches/{search_body['id']}/revisions/"
    client = client_for(alice)
    assert client.get(f"{base}1/matches/{max(shown) + 100}/heatmap.png").status_code == 404
    assert client.get(f"{base}2/matches/{min(shown)}/heatmap.png").status_code == 404
    bad_side = client.get(f"{base}1/matches/{min(shown)}/heatmap.png?side=left")
    assert bad_side.status_code == 400 and "side" in bad_side.json()


def test_confirm_a_hotel_and_reject_a_photo(search_body, alice, alice_teammate, bob, client_for):
    url = f"/api/searches/{search_body['id']}/decisions/"
    top = search_body["hotels"][0]
    confirm = {"hotel": top["hotel"]["id"], "verdict": "confirmed", "note": "same headboard"}
    response = client_for(alice).post(url, confirm, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["investigator"] == "alice" and response.json()["revision"] == 1
    other = search_body["hotels"][1]
    reject = {"hotel": other["hotel"]["id"], "image": other["matches"][0]["image_id"]}
    response = client_for(alice_teammate).post(url, {**reject, "verdict": "rejected"})
    assert response.status_code == 201

    body = client_for(alice).get(f"/api/searches/{search_body['id']}/").json()
    assert (body["hotels"][0]["decision"], body["hotels"][0]["decision_note"]) == (
        "confirmed",
        "same headboard",
    )
    assert body["hotels"][1]["decision"] is None
    assert body["hotels"][1]["matches"][0]["decision"] == "rejected"
    assert [d["verdict"] for d in client_for(alice).get(url).json()] == ["confirmed", "rejected"]
    assert _actions(search_body["id"]).count("decision") == 2
    assert client_for(bob).post(url, confirm, format="json").status_code == 404


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"hotel": 999999, "verdict": "confirmed"}, "hotel"),
        ({"verdict": "maybe"}, "verdict"),
        ({"image": 999999, "verdict": "rejected"}, "image"),
    ],
)
def test_a_decision_about_something_not_shown_is_refused(
    search_body, alice, client_for, payload, field
):
    payload = {"hotel": search_body["hotels"][0]["hotel"]["id"], **payload}
    url = f"/api/searches/{search_body['id']}/decisions/"
    response = client_for(alice).post(url, payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Decision.objects.exists() and "decision" not in _actions(search_body["id"])


def test_rerun_with_a_filter_keeps_the_first_revision(search_body, alice, client_for):
    url = f"/api/searches/{search_body['id']}/revisions/"
    response = client_for(alice).post(url, {"country": "fr", "k": 5}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["revision"] == 2 and body["filters"] == {"country": "FR"} and body["hotels"] == []
    assert [r["number"] for r in body["revisions"]] == [1, 2]
    first = client_for(alice).get(f"/api/searches/{search_body['id']}/?revision=1").json()
    assert first["hotels"] == search_body["hotels"]
    latest = client_for(alice).get(f"/api/searches/{search_body['id']}/").json()
    assert latest["revision"] == 2
    assert _actions(search_body["id"]) == ["search", "revision", "search_view", "search_view"]
    # The mask was kept: revision 2 searched the same erased photo.
    assert body["revisions"][1]["mask_sha256"] == body["revisions"][0]["mask_sha256"] != ""


def test_rerun_with_a_corrected_mask_stores_it_and_purge_removes_every_file(
    search_body,
    gallery,
    alice,
    client_for,
    settings,
):
    image, mask = victim_query(gallery)
    wider = mask | np.roll(mask, 12, axis=1)
    url = f"/api/searches/{search_body['id']}/revisions/"
    response = client_for(alice).post(url, {"mask": png_file(wider), "k": 3}, format="multipart")
    assert response.status_code == 201, response.json()
    first, second = response.json()["revisions"]
    assert first["mask_sha256"] != second["mask_sha256"]
    search = Search.objects.get()
    assert len(search.private_files) == 3  # photo, first mask, corrected mask
    assert sorted(private_files(settings)) == sorted(
        settings.PRIVATE_MEDIA_ROOT / name for name in search.private_files
    )
    settings.SEARCH_RETENTION_DAYS = 0
    assert searches_purge_expired() == 1
    assert private_files(settings) == [] and not SearchRevision.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [({"near": "45,-122"}, "radius_km"), ({"region": "1,2"}, "region"), ({"k": 0}, "k")],
)
def test_a_bad_rerun_writes_nothing(search_body, alice, client_for, settings, payload, field):
    before = sorted(private_files(settings))
    url = f"/api/searches/{search_body['id']}/revisions/"
    response = client_for(alice).post(url, payload, format="multipart")
    assert response.status_code == 400 and field in response.json()
    assert SearchRevision.objects.count() == 1 and sorted(private_files(settings)) == before
    assert _actions(search_body["id"]) == ["search"]


def test_other_team_cannot_rerun(search_body, bob, client_for):
    url = f"/api/searches/{search_body['id']}/revisions/"
    assert client_for(bob).post(url, {"k": 3}, format="multipart").status_code == 404
    assert SearchRevision.objects.count() == 1


def test_decisions_become_labelled_pairs(search_body, alice, client_for):
    url = f"/api/searches/{search_body['id']}/decisions/"
    top, other = search_body["hotels"][0], search_body["hotels"][1]
    client_for(alice).post(url, {"hotel": top["hotel"]["id"], "verdict": "confirmed"})
    image = other["matches"][0]["image_id"]
    client_for(alice).post(
        url, {"hotel": other["hotel"]["id"], "image": image, "verdict": "rejected"}
    )
    pairs = {(p.image_id, p.same_hotel) for p in labelled_pairs()}
    confirmed = {(m["image_id"], True) for m in top["matches"]}
    assert pairs == confirmed | {(image, False)}
    assert {p.query_file for p in labelled_pairs()} == {Search.objects.get().query_image.name}


def test_rerun_without_the_mask_and_a_decision_on_the_first_revision(
    search_body, alice, client_for
):
    url = f"/api/searches/{search_body['id']}/"
    response = client_for(alice).post(f"{url}revisions/", {"clear_mask": "true", "k": 3})
    assert response.status_code == 201, response.json()
    assert response.json()["revisions"][1]["mask_sha256"] == ""
    assert Search.objects.get().query_mask.name == ""
    top = search_body["hotels"][0]["hotel"]["id"]
    decision = {"hotel": top, "verdict": "confirmed", "revision": 1}
    response = client_for(alice).post(f"{url}decisions/", decision, format="json")
    assert response.status_code == 201 and response.json()["revision"] == 1
    missing = client_for(alice).post(f"{url}decisions/", {**decision, "revision": 9})
    assert missing.status_code == 400 and "revision" in missing.json()


def test_a_photo_hidden_since_the_search_leaves_its_evidence_readable(
    search_body, alice, client_for
):
    from rooms.models import RoomImage
    from rooms.services import image_hide

    shown = search_body["hotels"][0]["matches"][0]
    image_hide(RoomImage.objects.get(pk=shown["image_id"]), reason="a person")
    client = client_for(alice)
    base = f"/api/searches/{search_body['id']}/"
    body = client.get(base).json()
    hidden = body["hotels"][0]["matches"][0]
    assert (hidden["image_id"], hidden["url"], hidden["full_url"]) == (
        shown["image_id"],
        None,
        None,
    )
    for path in (f"{base}export.csv", f"{base}export.json", hidden["compare_url"]):
        assert client.get(path).status_code == 200, path
    page = client.get(f"/investigate/searches/{search_body['id']}/")
    assert page.status_code == 200 and "hidden by a moderator" in page.content.decode()
    assert client.get(hidden["explanation_url"]).status_code == 404  # no longer in the gallery
