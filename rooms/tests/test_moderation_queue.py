"""The moderation queue in the admin: what waits, in which order, the decisions on a
photo's page and in the list, who decided and when, the count on the admin home."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from investigations.permissions import MODERATORS_GROUP
from rooms.models import RoomImage, Submission
from rooms.tests.test_admin import make_image

CHANGELIST = "/admin/rooms/roomimage/"
QUEUE = {"moderation": "review"}


def change_url(image):
    return f"/admin/rooms/roomimage/{image.pk}/change/"


def decide_url(image, decision):
    return f"/admin/rooms/roomimage/{image.pk}/{decision}/"


@pytest.fixture
def moderator(django_user_model):
    user = django_user_model.objects.create_user("mona", is_staff=True)
    user.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    return user


@pytest.fixture
def mod_client(client, moderator):
    client.force_login(moderator)
    return client


@pytest.fixture
def gallery(hotel, image_bytes):
    """Named photos of room 204, created in this order; `created_at` set apart so the
    queue's order is the test's, not the clock's."""
    submission = Submission.objects.create(hotel=hotel, room_number="204", receipt_digest="g")
    kinds = {
        "published": {},
        "face": {"flagged_reason": "face detected"},
        "explicit": {"flagged_reason": "explicit content: X", "quarantined": True},
        "elsewhere": {"flagged_reason": "same photo as #1 filed under another hotel"},
        "hidden": {"flagged_reason": "face detected", "status": RoomImage.Status.HIDDEN},
    }
    start = timezone.now() - timedelta(days=1)
    photos = {}
    for i, (name, fields) in enumerate(kinds.items()):
        photos[name] = make_image(submission, i, image_bytes, **fields)
        RoomImage.objects.filter(pk=photos[name].pk).update(created_at=start + timedelta(hours=i))
        photos[name].refresh_from_db()
    return photos


def queue_of(client):
    return list(client.get(CHANGELIST, QUEUE).context["cl"].queryset)


def test_the_queue_holds_undecided_flagged_photos_oldest_first(mod_client, gallery):
    g = gallery
    assert queue_of(mod_client) == [g["face"], g["explicit"], g["elsewhere"]]


def test_the_queue_lists_the_oldest_first_even_when_newer_ones_were_sent_first(mod_client, gallery):
    RoomImage.objects.filter(pk=gallery["elsewhere"].pk).update(
        created_at=gallery["face"].created_at - timedelta(minutes=1)
    )
    assert queue_of(mod_client)[0] == gallery["elsewhere"]


def test_approving_on_the_photos_page_records_the_moderator_and_opens_the_next(
    mod_client, moderator, gallery
):
    face = gallery["face"]
    response = mod_client.post(decide_url(face, "approve"))
    assert response.status_code == 302
    # The next photo waiting after it (the explicit one), not the list.
    assert response["Location"] == change_url(gallery["explicit"])
    face.refresh_from_db()
    assert face.flagged_reason == "" and face.is_public
    assert face.reviewed_by == moderator
    assert timezone.now() - face.reviewed_at < timedelta(minutes=1)
    assert face not in queue_of(mod_client)
    entry = LogEntry.objects.get(object_id=str(face.pk))
    assert (entry.user, entry.change_message) == (moderator, "Approved")


def test_hiding_records_the_moderator_and_the_photo_leaves_the_queue(
    mod_client, moderator, gallery
):
    explicit = gallery["explicit"]
    response = mod_client.post(decide_url(explicit, "hide"))
    assert response["Location"] == change_url(gallery["elsewhere"])
    explicit.refresh_from_db()
    assert explicit.status == RoomImage.Status.HIDDEN and explicit.reviewed_by == moderator
    assert queue_of(mod_client) == [gallery["face"], gallery["elsewhere"]]


def test_after_the_last_photo_the_queue_wraps_to_a_skipped_one_then_ends(mod_client, gallery):
    last = mod_client.post(decide_url(gallery["elsewhere"], "approve"))
    assert last["Location"] == change_url(gallery["face"])  # skipped earlier, still waiting
    mod_client.post(decide_url(gallery["face"], "approve"))
    done = mod_client.post(decide_url(gallery["explicit"], "hide"), follow=True)
    assert done.redirect_chain[0][0] == CHANGELIST + "?moderation=review"
    assert "No photo is waiting for review." in done.content.decode()


def test_an_explicit_photo_is_never_approved(mod_client, gallery):
    explicit = gallery["explicit"]
    page = mod_client.get(change_url(explicit)).content.decode()
    assert 'id="moderation-hide"' in page and 'id="moderation-approve"' not in page
    response = mod_client.post(decide_url(explicit, "approve"), follow=True)
    assert "explicit content is never published" in response.content.decode()
    explicit.refresh_from_db()
    assert explicit.reviewed_at is None and not explicit.is_public


def test_a_decision_from_the_list_returns_to_that_list(mod_client, gallery):
    listing = f"http://testserver{CHANGELIST}?moderation=review&q=204"
    response = mod_client.post(decide_url(gallery["face"], "hide"), HTTP_REFERER=listing)
    assert response["Location"] == listing
    elsewhere = "http://evil.example/admin/rooms/roomimage/"
    response = mod_client.post(decide_url(gallery["explicit"], "hide"), HTTP_REFERER=elsewhere)
    assert response["Location"] == change_url(gallery["elsewhere"])


def test_the_list_has_a_button_per_decision_that_posts_to_it(mod_client, gallery):
    html = mod_client.get(CHANGELIST, QUEUE).content.decode()
    face, explicit = gallery["face"], gallery["explicit"]
    assert f'formaction="{decide_url(face, "approve")}"' in html
    assert f'formaction="{decide_url(face, "hide")}"' in html
    assert f'formaction="{decide_url(explicit, "hide")}"' in html
    assert f'formaction="{decide_url(explicit, "approve")}"' not in html
    # The buttons sit in the list's form, which carries the CSRF token they post.
    form = re.search(r'<form id="changelist-form".*?</form>', html, re.S).group(0)
    assert "csrfmiddlewaretoken" in form and "formaction=" in form
    assert 'width="200"' in html  # thumbnails large enough to judge


def test_the_photos_page_shows_it_large_with_the_decisions_and_the_keys(mod_client, gallery):
    face = gallery["face"]
    html = mod_client.get(change_url(face)).content.decode()
    photo = f"/admin/rooms/roomimage/{face.pk}/photo/?full=1"  # private: moderators' view
    assert re.search(
        rf'<img class="moderation-photo" src="{re.escape(photo)}"[^>]*width="640"', html
    )
    assert f'action="{decide_url(face, "approve")}"' in html
    assert f'action="{decide_url(face, "hide")}"' in html
    assert f'id="moderation-next" href="{change_url(gallery["explicit"])}"' in html
    assert "<kbd>a</kbd> approve" in html and "<kbd>h</kbd> hide" in html
    assert "rooms/admin/moderation.js" in html
    assert "<script>" not in html  # CSP: no inline script


def test_the_decision_is_shown_with_who_and_when(mod_client, gallery):
    mod_client.post(decide_url(gallery["face"], "approve"))
    page = mod_client.get(change_url(gallery["face"])).content.decode()
    assert "Last decision: mona" in page
    listing = mod_client.get(CHANGELIST, {"q": "204"}).content.decode()
    assert re.search(r'class="field-reviewed">mona, ', listing)


def test_decisions_are_posts_only(mod_client, gallery):
    for decision in ("approve", "hide"):
        assert mod_client.get(decide_url(gallery["face"], decision)).status_code == 405
    assert RoomImage.objects.get(pk=gallery["face"].pk).reviewed_at is None


def test_decisions_need_a_csrf_token(moderator, gallery):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    assert client.post(decide_url(gallery["face"], "approve")).status_code == 403
    assert RoomImage.objects.get(pk=gallery["face"].pk).reviewed_at is None


@pytest.mark.parametrize("who", ["staff", "viewer", "traveller"])
def test_non_moderators_cannot_decide(who, client, gallery, django_user_model):
    user = django_user_model.objects.create_user(who, is_staff=who != "traveller")
    if who == "viewer":  # may look at the photos, not decide on them
        user.user_permissions.add(Permission.objects.get(codename="view_roomimage"))
    client.force_login(user)
    for decision in ("approve", "hide"):
        response = client.post(decide_url(gallery["face"], decision))
        if who == "traveller":  # not staff: to the admin's login
            assert response.status_code == 302 and "/login/" in response["Location"]
        else:
            assert response.status_code == 403
    assert RoomImage.objects.get(pk=gallery["face"].pk).reviewed_at is None
    if who == "viewer":
        page = client.get(change_url(gallery["face"])).content.decode()
        assert "moderation-approve" not in page and "moderation-hide" not in page
        assert "formaction=" not in client.get(CHANGELIST).content.decode()


def test_the_admin_home_counts_the_photos_waiting_for_moderators(mod_client, gallery, client):
    html = mod_client.get("/admin/").content.decode()
    waiting = re.search(r'href="([^"]+)"><strong>(\d+)</strong> photos to review</a>', html)
    assert waiting and waiting.groups() == ("/admin/rooms/roomimage/?moderation=review", "3")
    mod_client.post(decide_url(gallery["face"], "approve"))
    assert "<strong>2</strong> photos to review" in mod_client.get("/admin/").content.decode()


def test_the_admin_home_shows_no_count_to_staff_who_cannot_moderate(
    client, gallery, django_user_model
):
    client.force_login(django_user_model.objects.create_user("clerk", is_staff=True))
    html = client.get("/admin/").content.decode()
    assert "to review" not in html


@pytest.mark.parametrize("query, expected", [("204", 5), ("Riverside", 5), ("999", 0)])
def test_photos_are_found_by_room_number_and_hotel(mod_client, gallery, query, expected):
    assert mod_client.get(CHANGELIST, {"q": query}).context["cl"].result_count == expected


def test_submissions_are_found_by_room_number(mod_client, gallery, hotel):
    Submission.objects.create(hotel=hotel, room_number="317", receipt_digest="other")
    found = mod_client.get("/admin/rooms/submission/", {"q": "204"}).context["cl"]
    assert [s.room_number for s in found.queryset] == ["204"]
