"""Withdrawal with the receipt: on the receipt page (a confirmed POST) and through the
API (DELETE). The photos, their files and their vectors go; a wrong receipt is a 404."""

import re
from contextlib import nullcontext

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from matcher.indexes import get_index
from matcher.models import Embedding
from matcher.tests.embedding_factories import add_embedding, set_active, unit_vector
from rooms.models import Hotel, RoomImage, Submission
from rooms.tests.test_proposals import PROPOSAL
from rooms.tests.test_submissions_api import room_photo

VERSION = "test-model:8"


def photos(*keys):
    return [SimpleUploadedFile(f"{k}.jpg", room_photo(k), "image/jpeg") for k in keys]


def upload(client, data, capture=None):
    # Commit hooks run only when asked: they embed the photos at once in tests.
    with capture(execute=True) if capture else nullcontext():
        response = client.post("/", {"room_number": "7", "images": photos("a", "b"), **data})
    assert response.status_code == 302, response.content
    html = client.get(response["Location"]).content.decode()
    return re.search(r'id="receipt-link" href="[^"]*/receipt/([\w-]+)/"', html).group(1)


def all_files(settings):
    roots = (settings.MEDIA_ROOT, settings.PRIVATE_MEDIA_ROOT)
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def receipt(client, hotel):
    return upload(client, {"hotel": hotel.id})


def test_the_receipt_link_shows_each_photos_state_privately(receipt):
    response = Client().get(f"/receipt/{receipt}/")  # another browser: the link is the key
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("Received, waiting to be processed") == 2
    assert "Harbour" not in html and "room 7" not in html  # states only
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"


def test_withdrawing_deletes_rows_files_and_vectors(
    client, receipt, settings, django_capture_on_commit_callbacks
):
    set_active(VERSION)
    for seed, image in enumerate(RoomImage.objects.all()):
        add_embedding(image, VERSION, unit_vector(seed))
    assert len(all_files(settings)) == 4
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/receipt/{receipt}/", {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Your submission was withdrawn" in client.get("/").content.decode()
    assert not Submission.objects.exists() and not RoomImage.objects.exists()
    assert not Embedding.objects.exists()
    assert all_files(settings) == []
    assert client.get(f"/receipt/{receipt}/").status_code == 404


def test_the_index_never_returns_withdrawn_photos(
    client, receipt, django_capture_on_commit_callbacks
):
    set_active(VERSION)
    images = list(RoomImage.objects.order_by("id"))
    RoomImage.objects.update(status=RoomImage.Status.EMBEDDED)
    for seed, image in enumerate(images):
        add_embedding(image, VERSION, unit_vector(seed))
    index = get_index()
    assert {image_id for image_id, _ in index.search(unit_vector(0), k=5)} == {
        image.id for image in images
    }
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/receipt/{receipt}/", {"confirm": "yes"})
    assert index.search(unit_vector(0), k=5) == []
    assert not np.isin([image.id for image in images], index.image_ids).any()  # forgotten


def test_without_the_confirmation_nothing_is_deleted(client, receipt, settings):
    response = client.post(f"/receipt/{receipt}/", {})
    assert response.status_code == 400
    assert "Tick the box to confirm" in response.content.decode()
    assert RoomImage.objects.count() == 2 and len(all_files(settings)) == 4


def test_withdrawing_needs_the_csrf_token(receipt):
    response = Client(enforce_csrf_checks=True).post(f"/receipt/{receipt}/", {"confirm": "yes"})
    assert response.status_code == 403
    assert RoomImage.objects.count() == 2


def test_the_api_withdraws_with_delete(receipt, settings, django_capture_on_commit_callbacks):
    api = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/submissions/{receipt}/")
    assert response.status_code == 204
    assert not RoomImage.objects.exists() and all_files(settings) == []
    assert api.delete(f"/api/submissions/{receipt}/").status_code == 404
    assert api.get(f"/api/submissions/{receipt}/").status_code == 404


@pytest.mark.parametrize("wrong", ["nope", "x" * 32])
def test_a_wrong_receipt_deletes_nothing(client, receipt, wrong):
    assert client.post(f"/receipt/{wrong}/", {"confirm": "yes"}).status_code == 404
    assert APIClient().delete(f"/api/submissions/{wrong}/").status_code == 404
    assert RoomImage.objects.count() == 2


def test_withdrawing_is_throttled_like_the_status_api(client, receipt, settings):
    settings.RECEIPT_RATE = "2/hour"
    codes = [client.get(f"/receipt/{receipt}/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_a_proposed_hotel_goes_with_its_only_submission(
    client, db, settings, django_capture_on_commit_callbacks
):
    receipt = upload(client, {"hotel": "new", **PROPOSAL}, django_capture_on_commit_callbacks)
    assert Hotel.objects.get().status == Hotel.Status.PROPOSED
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/receipt/{receipt}/", {"confirm": "yes"})
    assert not Hotel.objects.exists() and all_files(settings) == []


def test_a_listed_hotel_stays(client, receipt, hotel):
    client.post(f"/receipt/{receipt}/", {"confirm": "yes"})
    assert Hotel.objects.filter(pk=hotel.pk).exists()
