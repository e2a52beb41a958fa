"""Issue 19, findings 11 and 12, and the abuse hash list: screening of public uploads.

11. The same photo filed under another hotel waits for a moderator (who sees both).
12. Explicit content (NudeNet's EXPOSED classes) is quarantined: never public.
And a photo matching the operator's list of known abuse material is refused with a
neutral message and recorded for reporting, with no image kept.
"""

import io

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from retrieval.people import NUDENET_LABELS
from rooms import intake, screening
from rooms.models import BlockedUpload, Hotel, PhashBand, RoomImage, Submission
from rooms.services import NotApprovable, image_approve
from rooms.tests.test_submissions_api import room_photo


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def other_hotel(db):
    return Hotel.objects.create(
        name="Airport Lodge",
        city="Portland",
        country_code="US",
        latitude=45.58,
        longitude=-122.59,
        external_ref="AL-001",
    )


def submit(client, hotel, data: bytes, name="room.jpg"):
    photo = SimpleUploadedFile(name, data, "image/jpeg")
    return client.post(
        "/api/submissions/",
        {"hotel": hotel.id, "room_number": "7", "images": [photo]},
        format="multipart",
        REMOTE_ADDR="203.0.113.9",
    )


def stored(response) -> RoomImage:
    assert response.status_code == 201, response.content
    return RoomImage.objects.get(public_id=response.json()["images"][0]["id"])


# --- finding 11: the same photo under another hotel -------------------------------------


def test_our_own_public_copy_filed_under_another_hotel_is_held(client, hotel, other_hotel):
    original = stored(submit(client, hotel, room_photo("a")))
    # The attack: download the public photo and label it with another hotel.
    copy = stored(submit(client, other_hotel, original.stored_bytes(thumbnail=False)))
    assert copy.near_duplicate_of == original
    assert "filed under another hotel" in copy.flagged_reason
    assert "Harbour Inn Riverside" in copy.flagged_reason
    assert not copy.is_public and copy.flagged_reason  # not matched, not published
    assert original.flagged_reason == "" and original.is_public  # the first stays


def test_re_encoded_near_duplicate_under_another_hotel_is_held(client, hotel, other_hotel):
    original = stored(submit(client, hotel, room_photo("a", quality=95)))
    copy = stored(submit(client, other_hotel, room_photo("a", size=(600, 450), quality=60)))
    assert copy.near_duplicate_of == original and copy.is_flagged


def test_a_different_room_under_another_hotel_is_not_held(client, hotel, other_hotel):
    stored(submit(client, hotel, room_photo("a")))
    other = stored(submit(client, other_hotel, room_photo("b")))
    assert other.near_duplicate_of is None and not other.is_flagged and other.is_public


def test_near_duplicate_in_the_same_hotel_is_linked_not_held(client, hotel):
    original = stored(submit(client, hotel, room_photo("a", quality=95)))
    again = stored(submit(client, hotel, room_photo("a", size=(600, 450), quality=70)))
    assert again.near_duplicate_of == original and not again.is_flagged


def test_every_stored_photo_has_its_hash_bands(client, hotel):
    image = stored(submit(client, hotel, room_photo("a")))
    bands = sorted(PhashBand.objects.filter(image=image).values_list("band", "value"))
    assert bands == list(enumerate(bytes.fromhex(image.phash)))


@pytest.mark.parametrize("flipped_bits", [0, 1, 6, 7])
def test_duplicate_lookup_finds_hashes_up_to_six_bits_apart(hotel, other_hotel, flipped_bits):
    submission = Submission.objects.create(hotel=other_hotel, room_number="1", receipt_digest="x")
    base = 0x0123_4567_89AB_CDEF
    image = RoomImage.objects.create(
        submission=submission,
        sha256="s" * 64,
        phash=f"{base:016x}",
        file="rooms/x.jpg",
        width=1,
        height=1,
    )
    PhashBand.objects.bulk_create(
        PhashBand(image=image, band=b, value=v) for b, v in PhashBand.bands_of(image.phash)
    )
    # Flip bits spread over different bytes: the worst case for the byte index.
    query = base
    for bit in range(flipped_bits):
        query ^= 1 << (bit * 8 + 3)
    found = screening.duplicate_elsewhere(f"{query:016x}", hotel.id)
    assert (found is not None) == (flipped_bits <= screening.NEAR_DUPLICATE_MAX_DISTANCE)
    assert screening.duplicate_elsewhere(f"{base:016x}", other_hotel.id) is None  # own hotel


# --- finding 12: explicit content ------------------------------------------------------


def test_explicit_photo_is_quarantined_and_never_public(client, hotel, monkeypatch, settings):
    monkeypatch.setattr(intake, "detect_explicit", lambda image: ("FEMALE_BREAST_EXPOSED",))
    response = submit(client, hotel, room_photo("a"))
    assert response.json()["images"][0]["status"] == "in_review"
    assert (
        "EXPOSED" not in response.content.decode() and "explicit" not in response.content.decode()
    )
    image = stored(response)
    assert image.quarantined and "explicit content" in image.flagged_reason
    assert not image.is_public
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
    with pytest.raises(NotApprovable):
        image_approve(image)
    image.refresh_from_db()
    assert not image.is_public


def test_detector_runs_on_every_upload_and_passes_an_empty_room(client, hotel, monkeypatch):
    seen = []
    real = intake.detect_explicit
    monkeypatch.setattr(intake, "detect_explicit", lambda image: seen.append(1) or real(image))
    image = stored(submit(client, hotel, room_photo("a")))
    assert seen == [1] and not image.quarantined and image.is_public


def test_only_exposed_classes_above_the_threshold_count(settings):
    settings.UPLOAD_EXPLICIT_MIN_SCORE = 0.5
    scores = np.zeros(len(NUDENET_LABELS))
    scores[NUDENET_LABELS.index("FACE_FEMALE")] = 0.99  # a face: held elsewhere, not explicit
    scores[NUDENET_LABELS.index("BUTTOCKS_COVERED")] = 0.9
    scores[NUDENET_LABELS.index("FEMALE_GENITALIA_EXPOSED")] = 0.6
    scores[NUDENET_LABELS.index("ANUS_EXPOSED")] = 0.4
    assert intake.explicit_labels(scores) == ("FEMALE_GENITALIA_EXPOSED",)


# --- the operator's abuse hash list ----------------------------------------------------


def phash_of(data: bytes) -> str:
    import imagehash

    return str(imagehash.phash(Image.open(io.BytesIO(data)).convert("RGB")))


@pytest.fixture
def blocklist(tmp_path, settings):
    def write(*hashes):
        path = tmp_path / "abuse-hashes.txt"
        path.write_text("# operator's list\n" + "\n".join(hashes) + "\n")
        settings.UPLOAD_BLOCKLIST_FILE = str(path)
        return path

    return write


def test_listed_photo_is_refused_neutrally_and_recorded(client, hotel, blocklist, settings):
    data = room_photo("a")
    processed = intake.process_upload(SimpleUploadedFile("a.jpg", data))
    blocklist("ffffffffffffffff", processed.phash)
    response = submit(client, hotel, data)
    assert response.status_code == 400
    assert response.json() == {"detail": "This upload could not be accepted."}
    assert not Submission.objects.exists() and not RoomImage.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
    assert not [p for p in settings.PRIVATE_MEDIA_ROOT.rglob("*") if p.is_file()]
    record = BlockedUpload.objects.get()
    assert (record.phash, record.matched_hash, record.distance) == (
        processed.phash,
        processed.phash,
        0,
    )
    assert record.client_address == "203.0.113.9" and record.created_at
    assert record.sha256 == processed.sha256


def test_a_near_match_of_a_listed_hash_is_refused(client, hotel, blocklist):
    data = room_photo("a")
    listed = int(intake.process_upload(SimpleUploadedFile("a.jpg", data)).phash, 16) ^ 0b101
    blocklist(f"{listed:016x}")
    assert submit(client, hotel, data).status_code == 400
    assert BlockedUpload.objects.get().distance == 2


def test_form_upload_of_a_listed_photo_is_refused(client, hotel, blocklist):
    data = room_photo("a")
    blocklist(intake.process_upload(SimpleUploadedFile("a.jpg", data)).phash)
    response = client.post(
        "/",
        {"hotel": hotel.id, "room_number": "7", "images": [SimpleUploadedFile("a.jpg", data)]},
    )
    assert response.status_code == 400
    assert "This upload could not be accepted." in response.content.decode()
    assert BlockedUpload.objects.count() == 1 and not RoomImage.objects.exists()


def test_unlisted_photos_pass(client, hotel, blocklist):
    blocklist("0000000000000000")
    assert submit(client, hotel, room_photo("a")).status_code == 201
    assert not BlockedUpload.objects.exists()


def test_a_broken_list_is_a_configuration_error(blocklist, settings, tmp_path):
    blocklist("not-a-hash")
    with pytest.raises(ImproperlyConfigured, match="not 16 hex digits"):
        screening.blocklist_match("0" * 16)
    settings.UPLOAD_BLOCKLIST_FILE = str(tmp_path / "missing.txt")
    assert "cannot be read" in screening.check_blocklist_file()


def test_system_check_reports_an_unreadable_list(settings, tmp_path):
    from django.core.checks import run_checks

    settings.UPLOAD_BLOCKLIST_FILE = str(tmp_path / "missing.txt")
    assert [e.id for e in run_checks() if e.id.startswith("rooms.")] == ["rooms.E001"]
