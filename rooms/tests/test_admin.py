import pytest
from django.core.files.base import ContentFile

from rooms.models import RoomImage, Submission


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def images(hotel, image_bytes):
    submission = Submission.objects.create(hotel=hotel, room_number="12")
    made = []
    for i, flag in enumerate(["", "face detected", ""]):
        image = RoomImage(
            submission=submission, sha256=f"{i:064x}", phash=f"{i:016x}", flagged_reason=flag
        )
        image.file.save("x.jpg", ContentFile(image_bytes(color=(i * 80, 10, 10))), save=False)
        image.full_clean()  # also fills width/height from the file
        image.save()
        made.append(image)
    return made


def test_room_image_changelist_shows_thumbnails_and_filters(staff_client, images):
    response = staff_client.get("/admin/rooms/roomimage/")
    assert response.status_code == 200
    html = response.content.decode()
    for image in images:
        assert f'<img src="{image.thumbnail_url}"' in html
    assert "Harbour Inn Riverside" in html
    flagged = staff_client.get("/admin/rooms/roomimage/", {"flagged": "yes"})
    assert list(flagged.context["cl"].queryset) == [images[1]]
    found = staff_client.get("/admin/rooms/roomimage/", {"q": "riverside"})
    assert found.context["cl"].result_count == 3
    assert (
        staff_client.get("/admin/rooms/roomimage/", {"q": "nowhere"}).context["cl"].result_count
        == 0
    )


def test_hide_action_hides_selected_images(staff_client, images):
    response = staff_client.post(
        "/admin/rooms/roomimage/",
        {"action": "hide_images", "_selected_action": [images[0].pk, images[1].pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 image(s) hidden." in response.content.decode()
    statuses = dict(RoomImage.objects.values_list("pk", "status"))
    assert statuses == {
        images[0].pk: RoomImage.Status.HIDDEN,
        images[1].pk: RoomImage.Status.HIDDEN,
        images[2].pk: RoomImage.Status.PENDING,
    }


def test_clear_flag_action(staff_client, images):
    staff_client.post(
        "/admin/rooms/roomimage/",
        {"action": "clear_person_flag", "_selected_action": [image.pk for image in images]},
    )
    assert not RoomImage.objects.exclude(flagged_reason="").exists()


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
    assert page.content.decode().count("<img src=") == 3
    assert staff_client.get("/admin/rooms/chain/").status_code == 200
