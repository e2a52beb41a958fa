"""'My hotel is not listed': a traveller proposes a hotel and uploads into it; its photos
are held (private, never matched) until a moderator approves or merges the hotel."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from matcher.indexes import live_images
from rooms import intake
from rooms.models import Hotel, RoomImage, Submission
from rooms.proposals import (
    PROPOSED_HOTEL_REASON,
    NotMergeable,
    approve_hotel,
    merge_hotel,
    propose_hotel,
)
from rooms.tests.test_submissions_api import room_photo

JSON = {"HTTP_ACCEPT": "application/json"}
PROPOSAL = {
    "new-name": "Seaview Guesthouse",
    "new-address": "3 Quay Street",
    "new-city": "Galway",
    "new-country_code": "ie",
    "new-latitude": "53.2707",
    "new-longitude": "-9.0568",
}


@pytest.fixture
def moderator(db):
    return get_user_model().objects.create_user("mo", password="x", is_staff=True)


def upload_proposing(client, *keys, **fields):
    files = [SimpleUploadedFile(f"{k}.jpg", room_photo(k), "image/jpeg") for k in keys]
    data = {"hotel": "new", "room_number": "7", "images": files, **PROPOSAL, **fields}
    return client.post("/", data, **JSON)


def public_files(settings):
    return [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


def all_files(settings):
    roots = (settings.MEDIA_ROOT, settings.PRIVATE_MEDIA_ROOT)
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_a_proposed_hotel_holds_its_photos_in_private(
    client, db, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload_proposing(client, "a", "b")
    assert response.status_code == 201, response.content
    hotel = Hotel.objects.get()
    assert hotel.status == Hotel.Status.PROPOSED
    assert (hotel.name, hotel.country_code, hotel.latitude) == ("Seaview Guesthouse", "IE", 53.2707)
    assert hotel.external_ref.startswith("proposed:")
    images = RoomImage.objects.all()
    assert {image.flagged_reason for image in images} == {PROPOSED_HOTEL_REASON}
    assert not any(image.is_public for image in images)
    assert public_files(settings) == []  # the public copies went once it committed
    assert len(all_files(settings)) == 4
    assert not live_images().exists()  # never matched while held
    page = client.get(response.json()["redirect"]).content.decode()
    assert "a moderator checks it" in page


def test_a_proposed_hotel_is_not_offered_to_other_travellers(client, db):
    upload_proposing(client, "a")
    proposed = Hotel.objects.get()
    html = client.get("/", {"q": "Seaview"}).content.decode()
    assert "No hotel matches" in html
    data = {"hotel": proposed.id, "room_number": "1", "images": []}
    response = client.post("/", data, **JSON)
    assert response.json()["errors"][0]["field"] == "hotel"


def test_approving_the_hotel_releases_its_photos(
    client, db, settings, moderator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload_proposing(client, "a")
    with django_capture_on_commit_callbacks(execute=True):
        hotel = approve_hotel(Hotel.objects.get(), moderator)
    assert hotel.status == Hotel.Status.LISTED
    image = RoomImage.objects.get()
    assert image.flagged_reason == "" and image.is_public
    assert (image.reviewed_by, image.reviewed_at is not None) == (moderator, True)
    assert len(public_files(settings)) == 2


def test_a_photo_held_for_another_reason_stays_held(client, db, moderator, monkeypatch):
    monkeypatch.setattr(intake, "detect_person", lambda image: "face detected")
    upload_proposing(client, "a")
    approve_hotel(Hotel.objects.get(), moderator)
    image = RoomImage.objects.get()
    assert image.flagged_reason == "face detected" and not image.is_public
    assert image.reviewed_by is None


def test_merging_moves_the_submissions_and_deletes_the_proposal(
    client, hotel, moderator, django_capture_on_commit_callbacks
):
    upload_proposing(client, "a")
    proposed = Hotel.objects.get(status=Hotel.Status.PROPOSED)
    with django_capture_on_commit_callbacks(execute=True):
        into = merge_hotel(proposed, hotel, moderator)
    assert into == hotel
    assert not Hotel.objects.filter(pk=proposed.pk).exists()
    assert Submission.objects.get().hotel == hotel
    image = RoomImage.objects.get()
    assert image.flagged_reason == "" and image.is_public


def test_only_a_proposal_merges_and_only_into_a_listed_hotel(client, hotel, moderator):
    upload_proposing(client, "a")
    proposed = Hotel.objects.get(status=Hotel.Status.PROPOSED)
    with pytest.raises(NotMergeable):
        merge_hotel(hotel, proposed, moderator)
    with pytest.raises(NotMergeable):
        merge_hotel(proposed, proposed, moderator)
    assert Submission.objects.get().hotel == proposed


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("new-name", "", "This field is required."),
        ("new-country_code", "Ireland", "Use the two-letter country code"),
        ("new-latitude", "", "The hotel's position is needed"),
        ("new-longitude", "200", "less than or equal to 180"),
    ],
)
def test_a_bad_proposal_is_a_400_and_leaves_nothing(client, db, settings, field, value, reason):
    response = upload_proposing(client, "a", **{field: value})
    assert response.status_code == 400
    errors = {error["field"]: error["reason"] for error in response.json()["errors"]}
    assert reason in errors[field]
    assert not Hotel.objects.exists() and not Submission.objects.exists()
    assert all_files(settings) == []


def test_a_refused_photo_leaves_no_proposed_hotel(client, db, settings):
    bad = SimpleUploadedFile("photo-1.jpg", b"not a photo", "image/jpeg")
    data = {"hotel": "new", "room_number": "7", "images": [bad], **PROPOSAL}
    response = client.post("/", data, **JSON)
    assert response.status_code == 400
    assert not Hotel.objects.exists() and all_files(settings) == []


def test_propose_hotel_validates_like_the_catalogue(db):
    with pytest.raises(ValidationError) as refused:
        propose_hotel(name="X", city="Y", country_code="IRL", latitude=0, longitude=0)
    assert "country_code" in refused.value.message_dict
    first = propose_hotel(name="X", city="Y", country_code="ie", latitude=1, longitude=2)
    second = propose_hotel(name="X", city="Y", country_code="IE", latitude=1, longitude=2)
    assert first.external_ref != second.external_ref  # two travellers, two proposals
