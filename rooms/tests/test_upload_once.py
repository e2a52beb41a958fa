"""Exactly once: every try of one submission carries the same client token, and a retry
finds what an earlier try stored (same receipt, same thank-you page, no second row)."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from rooms import submit_once
from rooms.models import RoomImage, Submission, digest_of_receipt
from rooms.tests.test_submissions_api import room_photo

JSON = {"HTTP_ACCEPT": "application/json"}


def photos(*keys):
    return [SimpleUploadedFile(f"photo-{k}.jpg", room_photo(k), "image/jpeg") for k in keys]


def page_post(client, hotel, token, *keys, **extra):
    data = {"hotel": hotel.id, "room_number": "12", "images": photos(*keys)}
    if token:
        data["client_token"] = str(token)
    return client.post("/", data, **extra)


def stored_files(settings):
    roots = (settings.MEDIA_ROOT, settings.PRIVATE_MEDIA_ROOT)
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


def test_a_retried_page_send_returns_the_stored_submission(client, hotel, settings):
    token = uuid.uuid4()
    first = page_post(client, hotel, token, "a", "b", **JSON)
    files = stored_files(settings)
    retry = page_post(client, hotel, token, "a", "b", **JSON)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json() == retry.json()  # the same thank-you page
    assert Submission.objects.count() == 1 and RoomImage.objects.count() == 2
    assert stored_files(settings) == files  # nothing written by the retry


def test_the_retry_gets_the_same_receipt_from_another_session(hotel):
    """The first answer (and its session cookie) may never have reached the phone."""
    token = uuid.uuid4()
    api = APIClient()
    data = {"hotel": hotel.id, "room_number": "12", "client_token": str(token)}
    first = api.post("/api/submissions/", {**data, "images": photos("a")}, format="multipart")
    again = APIClient().post("/api/submissions/", {**data, "images": photos("a")})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["receipt"] == again.json()["receipt"]
    assert first.json()["images"] == again.json()["images"]
    status = APIClient().get(f"/api/submissions/{again.json()['receipt']}/")
    assert status.status_code == 200


def test_the_database_holds_neither_the_token_nor_the_receipt(client, hotel):
    token = uuid.uuid4()
    page_post(client, hotel, token, "a")
    submission = Submission.objects.get()
    receipt = submit_once.receipt_for_token(token)
    assert submission.client_token != token
    assert submission.receipt_digest == digest_of_receipt(receipt)
    assert receipt not in str(Submission.objects.values().get())
    assert len(receipt) == 32  # as long as a random receipt


def test_a_new_token_is_a_new_submission(client, hotel):
    page_post(client, hotel, uuid.uuid4(), "a")
    page_post(client, hotel, uuid.uuid4(), "b")
    assert Submission.objects.count() == 2


def test_without_a_token_the_form_works_as_before(client, hotel):
    response = page_post(client, hotel, None, "a")
    assert response.status_code == 302
    assert Submission.objects.get().client_token is None


def test_the_html_retry_redirects_to_the_same_thank_you_page(client, hotel):
    token = uuid.uuid4()
    first = page_post(client, hotel, token, "a")
    retry = page_post(client, hotel, token, "a")
    assert first.status_code == retry.status_code == 302
    assert first["Location"] == retry["Location"]
    assert client.get(retry["Location"]).status_code == 200


def test_a_concurrent_try_that_committed_first_wins(client, hotel, settings, monkeypatch):
    """Two tries in flight: the second stores its copy, then meets the first's token in
    the unique index; its rows roll back, its files are deleted, it answers with the first."""
    token = uuid.uuid4()
    first = page_post(client, hotel, token, "a", **JSON)
    files = stored_files(settings)
    # The second try looked before the first committed: it saw no earlier submission.
    lookups = iter([None])
    real_earlier = submit_once._earlier
    monkeypatch.setattr(
        submit_once, "_earlier", lambda *args: next(lookups, None) or real_earlier(*args)
    )
    second = page_post(client, hotel, token, "b", **JSON)
    assert second.status_code == 200 and second.json() == first.json()
    assert Submission.objects.count() == 1 and RoomImage.objects.count() == 1
    assert stored_files(settings) == files


@pytest.mark.parametrize("token", ["not-a-uuid", "1234"])
def test_a_malformed_token_is_a_400_with_its_reason(client, hotel, token):
    response = page_post(client, hotel, token, "a", **JSON)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == [{"field": "client_token", "reason": "Enter a valid UUID."}]
    assert not Submission.objects.exists()
