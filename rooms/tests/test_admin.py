"""Moderation in the admin: held, quarantined and hidden photos, approve and hide."""

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from rooms.models import BlockedUpload, Hotel, RoomImage, Submission

CHANGELIST = "/admin/rooms/roomimage/"


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def make_image(submission, i, image_bytes, **fields):
    image = RoomImage(submission=submission, sha256=f"{i:064x}", phash=f"{i:016x}", **fields)
    image.file.save("x.jpg", ContentFile(image_bytes(color=(i * 80, 10, 10))), save=False)
    image.full_clean()  # also fills width/height from the file
    image.save()
    return image


@pytest.fixture
def images(hotel, image_bytes):
    """Published, held (a face) and quarantined (explicit), in that order."""
    submission = Submission.objects.create(hotel=hotel, room_number="12", receipt_digest="r")
    return [
        make_image(submission, 0, image_bytes),
        make_image(submission, 1, image_bytes, flagged_reason="face detected"),
        make_image(
            submission,
            2,
            image_bytes,
            flagged_reason="explicit content: BUTTOCKS_EXPOSED",
            quarantined=True,
        ),
    ]


def photo_url(image):
    return f"/admin/rooms/roomimage/{image.pk}/photo/"


def test_changelist_shows_public_and_private_photos(staff_client, images):
    published, held, quarantined = images
    html = staff_client.get(CHANGELIST).content.decode()
    assert f'<img src="{published.thumbnail_url}"' in html
    assert f'<img src="{photo_url(held)}"' in html and f'href="{photo_url(held)}?full=1"' in html
    assert f'href="{photo_url(quarantined)}"' in html  # never a full, unblurred link
    assert "Harbour Inn Riverside" in html


@pytest.mark.parametrize(
    "state, expected", [("held", 1), ("quarantined", 2), ("published", 0), ("hidden", None)]
)
def test_moderation_filter(staff_client, images, state, expected):
    response = staff_client.get(CHANGELIST, {"moderation": state})
    found = list(response.context["cl"].queryset)
    assert found == ([] if expected is None else [images[expected]])


def test_held_photo_is_served_to_moderators_uncached(staff_client, images, client):
    held = images[1]
    response = staff_client.get(photo_url(held), {"full": "1"})
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert {"private", "no-store"} <= {v.strip() for v in response["Cache-Control"].split(",")}
    assert response.content == held.stored_bytes(thumbnail=False)


def test_photo_view_needs_staff(images, client, django_user_model):
    assert client.get(photo_url(images[1])).status_code == 302  # to the admin login
    client.force_login(django_user_model.objects.create_user("traveller"))
    assert client.get(photo_url(images[1])).status_code == 302


def test_quarantined_photo_is_only_ever_shown_blurred(staff_client, hotel, db):
    # A sharp checkerboard: blurred, its cells average out.
    board = Image.new("L", (256, 256))
    board.putdata([255 * ((x // 16 + y // 16) % 2) for y in range(256) for x in range(256)])
    buffer = io.BytesIO()
    board.convert("RGB").save(buffer, "JPEG", quality=95)
    submission = Submission.objects.create(hotel=hotel, room_number="1", receipt_digest="q")
    image = RoomImage(submission=submission, sha256="c" * 64, phash="0" * 16, quarantined=True)
    image.file.save("x.jpg", ContentFile(buffer.getvalue()), save=False)
    image.full_clean()
    image.save()
    assert not image.is_public
    for query in ({}, {"full": "1"}):
        shown = Image.open(io.BytesIO(staff_client.get(photo_url(image), query).content))
        pixels = list(shown.convert("L").getdata())
        assert max(pixels) - min(pixels) < 100  # the original spans 0..255


def test_approve_action_publishes_held_photos_but_never_quarantined_ones(
    staff_client, images, settings
):
    published, held, quarantined = images
    assert not held.is_public and not quarantined.is_public
    response = staff_client.post(
        CHANGELIST,
        {"action": "approve_images", "_selected_action": [held.pk, quarantined.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "1 image(s) approved." in html and "explicit content is never published" in html
    held.refresh_from_db()
    quarantined.refresh_from_db()
    assert held.flagged_reason == "" and held.is_public
    assert (settings.MEDIA_ROOT / held.file.name).is_file()
    assert quarantined.quarantined and not quarantined.is_public


def test_hide_action_hides_and_unpublishes(
    staff_client, images, settings, django_capture_on_commit_callbacks
):
    published = images[0]
    public_path = settings.MEDIA_ROOT / published.file.name
    assert public_path.is_file()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {"action": "hide_images", "_selected_action": [published.pk, images[1].pk]},
            follow=True,
        )
    assert "2 image(s) hidden." in response.content.decode()
    published.refresh_from_db()
    assert published.status == RoomImage.Status.HIDDEN and not published.is_public
    assert not public_path.exists()
    assert RoomImage.objects.get(pk=images[2].pk).status == RoomImage.Status.PENDING


def test_duplicate_of_another_hotels_photo_shows_both_hotels(staff_client, hotel, image_bytes):
    other = Hotel.objects.create(
        name="Airport Lodge", city="Portland", country_code="US", latitude=45.5,
        longitude=-122.6, external_ref="AL-1",
    )  # fmt: skip
    original = make_image(
        Submission.objects.create(hotel=other, room_number="3", receipt_digest="o"), 5, image_bytes
    )
    copy = make_image(
        Submission.objects.create(hotel=hotel, room_number="4", receipt_digest="c"),
        6,
        image_bytes,
        flagged_reason="same photo as one filed under another hotel",
        near_duplicate_of=original,
    )
    html = staff_client.get(f"/admin/rooms/roomimage/{copy.pk}/change/").content.decode()
    assert "Harbour Inn Riverside" in html and f"Airport Lodge (photo #{original.pk})" in html
    listing = staff_client.get(CHANGELIST, {"moderation": "held"}).content.decode()
    assert "Airport Lodge (photo #" in listing


def test_private_fields_are_read_only(staff_client, images):
    image = images[0]
    image.camera_model = "Pixel 9"
    image.save()
    url = f"/admin/rooms/roomimage/{image.pk}/change/"
    page = staff_client.get(url)
    assert page.status_code == 200
    assert 'name="camera_model"' not in page.content.decode()
    staff_client.post(url, {"camera_model": "changed", "status": "embedded"})
    image.refresh_from_db()
    assert (image.camera_model, image.status) == ("Pixel 9", RoomImage.Status.PENDING)


def test_hotel_and_submission_admin_pages(staff_client, images, hotel):
    hotels = staff_client.get("/admin/rooms/hotel/", {"q": "HI-001"})
    assert hotels.context["cl"].result_count == 1
    assert staff_client.get("/admin/rooms/hotel/", {"country_code": "US"}).status_code == 200
    submission = images[0].submission
    page = staff_client.get(f"/admin/rooms/submission/{submission.pk}/change/")
    assert page.status_code == 200
    assert page.content.decode().count('loading="lazy"') == 3  # the three photos
    assert staff_client.get("/admin/rooms/chain/").status_code == 200


def test_blocked_uploads_are_listed_read_only_and_can_be_marked_reported(staff_client, db):
    record = BlockedUpload.objects.create(
        phash="f" * 16, matched_hash="f" * 16, distance=0, sha256="d" * 64, client_address="::1"
    )
    listing = staff_client.get("/admin/rooms/blockedupload/").content.decode()
    assert "ffffffffffffffff" in listing
    staff_client.post(
        "/admin/rooms/blockedupload/",
        {"action": "mark_reported", "_selected_action": [record.pk]},
    )
    record.refresh_from_db()
    assert record.reported_at is not None
    assert staff_client.get(f"/admin/rooms/blockedupload/{record.pk}/delete/").status_code == 403
