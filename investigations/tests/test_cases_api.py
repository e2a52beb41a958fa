# ruff: noqa: F811 (pytest fixtures imported from test_search_api are arguments here)
"""Cases through the API: open, attach, combined ranking, multi-photo searches, legal
hold against the purge, PDF reports (the real model on a tiny gallery; real WeasyPrint)."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from pypdf import PdfReader

from demo import images as demo_images
from investigations.models import AuditEntry, Case, Search
from investigations.services import searches_purge_expired
from investigations.tests.test_search_api import (  # noqa: F401 (fixture)
    URL,
    gallery,
    jpeg,
    png_file,
    private_files,
    victim_query,
)

CASES = "/api/cases/"


@pytest.fixture
def case_id(alice, client_for):
    response = client_for(alice).post(
        CASES, {"reference": "TC-2026-0042", "title": "Harbour rooms"}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _photo_of(gallery, hotel, view):
    _, style, room = gallery[hotel]
    return demo_images.photo(style, view=view, room=room)


def _pdf_text(content) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_open_a_case_and_list_it_for_the_team_only(case_id, alice_teammate, bob, client_for):
    listed = client_for(alice_teammate).get(CASES).json()
    assert [(c["id"], c["reference"], c["team"]) for c in listed] == [
        (case_id, "TC-2026-0042", "Team A")
    ]
    assert client_for(bob).get(CASES).json() == []
    assert client_for(bob).get(f"{CASES}{case_id}/").status_code == 404
    assert client_for(bob).patch(f"{CASES}{case_id}/", {"title": "x"}).status_code == 404
    view = client_for(alice_teammate).get(f"{CASES}{case_id}/")
    assert view.status_code == 200 and view["Cache-Control"] == "private, no-store"
    actions = AuditEntry.objects.filter(case_id=case_id).values_list("action", flat=True)
    assert sorted(actions) == ["case_create", "case_view"]


def test_a_reference_is_unique_within_a_team(case_id, alice, bob, client_for):
    again = {"reference": "TC-2026-0042", "title": "again"}
    response = client_for(alice).post(CASES, again, format="json")
    assert response.status_code == 400 and "reference" in response.json()
    assert client_for(bob).post(CASES, again, format="json").status_code == 201  # other team
    assert Case.objects.count() == 2


def test_two_photos_attached_as_same_room_rank_their_hotel_first(
    gallery, case_id, alice, client_for
):
    client = client_for(alice)
    for view in (11, 12):
        photo = _photo_of(gallery, "Lone Motel", view)
        body = {"image": jpeg(photo), "case": case_id, "k": 3}
        created = client.post(URL, body, format="multipart")
        assert created.status_code == 201, created.json()
        assert created.json()["case"] == case_id
        patched = client.patch(f"{URL}{created.json()['id']}/", {"same_room": True}, format="json")
        assert patched.status_code == 200 and patched.json()["same_room"] is True
    case = client.get(f"{CASES}{case_id}/").json()
    assert len(case["searches"]) == 2 and case["search_count"] == 2
    assert case["combined"][0]["hotel"]["name"] == "Lone Motel"
    assert case["combined"][0]["photos"] == 2
    attached = AuditEntry.objects.filter(case_id=case_id, action="case_attach").count()
    assert attached == 2


def test_a_multi_photo_search_is_stored_whole_and_ranked_together(
    gallery, alice, client_for, settings
):
    photos = [_photo_of(gallery, "Harbour Docks", view) for view in (21, 22, 23)]
    mask = np.zeros((photos[0].height, photos[0].width), dtype=bool)
    mask[:, :40] = True
    response = client_for(alice).post(
        URL,
        {"image": [jpeg(p) for p in photos], "mask": [png_file(mask) for _ in photos], "k": 2},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["hotels"][0]["hotel"]["name"] == "Harbour Docks"
    assert body["hotels"][0]["photos"] == 3 and len(body["searches"]) == 3
    assert len(body["hotels"]) == 2
    searches = Search.objects.filter(photo_set=body["photo_set"])
    assert searches.count() == 3 and all(s.same_room for s in searches)
    assert len(private_files(settings)) == 6  # three photos, three masks


def test_a_bad_photo_in_a_set_stores_none_of_it(gallery, alice, client_for, settings):
    good = jpeg(_photo_of(gallery, "Harbour Docks", 21))
    broken = io.BytesIO(b"not an image")
    broken.name = "broken.jpg"
    response = client_for(alice).post(URL, {"image": [good, broken]}, format="multipart")
    assert response.status_code == 400
    assert "photo 2" in str(response.json()["image"])
    assert not Search.objects.exists() and private_files(settings) == []
    two = [jpeg(_photo_of(gallery, "Harbour Docks", view)) for view in (1, 2)]
    one_mask = [png_file(np.zeros((900, 1200), dtype=bool))]
    masks_mismatch = client_for(alice).post(
        URL, {"image": two, "mask": one_mask}, format="multipart"
    )
    assert masks_mismatch.status_code == 400 and "mask" in masks_mismatch.json()


def test_a_search_cannot_join_another_teams_case(gallery, case_id, bob, client_for):
    photo = jpeg(_photo_of(gallery, "Lone Motel", 1))
    response = client_for(bob).post(URL, {"image": photo, "case": case_id}, format="multipart")
    assert response.status_code == 400 and "case" in response.json()
    assert not Search.objects.exists()


def test_legal_hold_keeps_a_cases_searches_past_retention(
    alice, case_id, make_search, client_for, settings
):
    settings.SEARCH_RETENTION_DAYS = 30
    held, loose = make_search(alice), make_search(alice)
    Search.objects.filter(pk=held.pk).update(case_id=case_id)
    Search.objects.all().update(created_at=timezone.now() - timedelta(days=31))
    response = client_for(alice).patch(f"{CASES}{case_id}/", {"legal_hold": True}, format="json")
    assert response.status_code == 200 and response.json()["legal_hold_by"] == "alice"
    out = io.StringIO()
    call_command("purge_searches", stdout=out)
    assert "Deleted 1 expired search." in out.getvalue()
    assert "Kept 1 past retention" in out.getvalue()
    assert list(Search.objects.values_list("pk", flat=True)) == [held.pk]
    client_for(alice).patch(f"{CASES}{case_id}/", {"legal_hold": False}, format="json")
    assert searches_purge_expired() == 1 and not Search.objects.exists()
    actions = list(
        AuditEntry.objects.filter(case_id=case_id, action__startswith="legal")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["legal_hold", "legal_hold_release"]
    assert loose.pk not in Search.objects.values_list("pk", flat=True)


def test_search_report_names_the_case_the_hotel_and_the_photos_hash(
    gallery, case_id, alice, bob, client_for
):
    image, mask = victim_query(gallery)
    client = client_for(alice)
    created = client.post(
        URL, {"image": jpeg(image), "mask": png_file(mask), "case": case_id}, format="multipart"
    ).json()
    hotel = created["hotels"][0]["hotel"]
    client.post(
        f"{URL}{created['id']}/decisions/",
        {"hotel": hotel["id"], "verdict": "confirmed", "note": "same lamp"},
        format="json",
    )
    response = client.get(f"{URL}{created['id']}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    text = _pdf_text(response.content)
    search = Search.objects.get()
    for expected in ("TC-2026-0042", hotel["name"], search.query_sha256, "same lamp", "report"):
        assert expected in text.replace("\n", ""), expected
    assert client_for(bob).get(f"{URL}{created['id']}/report.pdf").status_code == 404

    case_pdf = client.get(f"{CASES}{case_id}/report.pdf")
    assert case_pdf.status_code == 200
    assert case_pdf["Content-Disposition"] == 'attachment; filename="case-TC-2026-0042.pdf"'
    case_text = _pdf_text(case_pdf.content).replace("\n", "")
    assert "Harbour rooms" in case_text and search.query_sha256 in case_text
    reports = AuditEntry.objects.filter(action="report")
    assert reports.count() == 2 and reports.filter(case_id=case_id).count() == 2


def test_a_report_leaves_pillow_refusing_truncated_photos(alice, make_search, client_for):
    # WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on when imported; intake needs it off.
    from PIL import ImageFile

    search = make_search(alice)
    assert client_for(alice).get(f"{URL}{search.pk}/report.pdf").status_code == 200
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
