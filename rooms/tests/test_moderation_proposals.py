"""Hotels proposed by travellers, in the admin: counted on the home page, filtered,
approved or merged into a listed hotel (rooms/proposals.py does the work)."""

import pytest
from django.contrib.auth.models import Group, Permission

from investigations.permissions import MODERATORS_GROUP
from rooms.models import Hotel, RoomImage, Submission
from rooms.proposals import PROPOSED_HOTEL_REASON, propose_hotel
from rooms.services import image_approve
from rooms.tests.test_admin import make_image

HOTELS = "/admin/rooms/hotel/"


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
def proposal(db):
    return propose_hotel(
        name="Harbour Inn Riverside Annex", city="Portland", country_code="US",
        latitude=45.52, longitude=-122.68,
    )  # fmt: skip


@pytest.fixture
def held(proposal, image_bytes):
    """The proposal's photos: one held for the hotel only, one also for a face."""
    submission = Submission.objects.create(hotel=proposal, room_number="9", receipt_digest="p")
    return (
        make_image(submission, 1, image_bytes, flagged_reason=PROPOSED_HOTEL_REASON),
        make_image(
            submission, 2, image_bytes, flagged_reason=f"{PROPOSED_HOTEL_REASON}; face detected"
        ),
    )


def queue_of(client):
    return list(
        client.get("/admin/rooms/roomimage/", {"moderation": "review"}).context["cl"].queryset
    )


def test_a_photo_held_only_for_its_hotel_waits_for_the_hotel_not_in_the_photo_queue(
    mod_client, held
):
    hotel_only, with_face = held
    assert queue_of(mod_client) == [with_face]


def test_the_admin_home_counts_proposals_and_links_to_them(mod_client, held, hotel):
    html = mod_client.get("/admin/").content.decode()
    assert f'href="{HOTELS}?status__exact=proposed"><strong>1</strong> proposed hotel to' in html
    listed = mod_client.get(HOTELS, {"status__exact": "proposed"}).context["cl"].queryset
    assert [h.name for h in listed] == ["Harbour Inn Riverside Annex"]


def test_approving_a_proposal_lists_it_and_releases_the_photos_nothing_else_holds(
    mod_client, moderator, proposal, held, hotel
):
    hotel_only, with_face = held
    mod_client.post(
        HOTELS, {"action": "approve_proposals", "_selected_action": [proposal.pk, hotel.pk]}
    )
    proposal.refresh_from_db()
    hotel_only.refresh_from_db()
    with_face.refresh_from_db()
    assert proposal.status == Hotel.Status.LISTED
    assert hotel_only.is_public and hotel_only.reviewed_by == moderator
    assert with_face.flagged_reason == "face detected" and not with_face.is_public
    assert queue_of(mod_client) == [with_face]  # the face is still a moderator's call


def test_merging_asks_for_the_listed_hotel_then_moves_the_submissions(
    mod_client, proposal, held, hotel
):
    chosen = {"action": "merge_proposals", "_selected_action": [proposal.pk]}
    page = mod_client.post(HOTELS, chosen)
    html = page.content.decode()
    assert page.status_code == 200 and "Harbour Inn Riverside Annex" in html
    assert 'class="admin-autocomplete' in html and 'name="into"' in html
    assert "csrfmiddlewaretoken" in html

    done = mod_client.post(HOTELS, {**chosen, "into": hotel.pk}, follow=True)
    assert "merged into Harbour Inn Riverside" in done.content.decode()
    assert not Hotel.objects.filter(pk=proposal.pk).exists()
    hotel_only = RoomImage.objects.get(pk=held[0].pk)
    assert hotel_only.submission.hotel == hotel and hotel_only.is_public


def test_a_proposal_cannot_be_merged_into_another_proposal(mod_client, proposal, held):
    other = propose_hotel(
        name="Other Annex", city="Portland", country_code="US", latitude=45.5, longitude=-122.6
    )
    chosen = {"action": "merge_proposals", "_selected_action": [proposal.pk], "into": other.pk}
    page = mod_client.post(HOTELS, chosen)
    assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
    assert Hotel.objects.filter(pk=proposal.pk, status=Hotel.Status.PROPOSED).exists()


def test_the_merge_autocomplete_offers_listed_hotels_only(mod_client, proposal, hotel):
    found = mod_client.get(
        "/admin/autocomplete/",
        {"app_label": "rooms", "model_name": "submission", "field_name": "hotel", "term": "Harb"},
    ).json()["results"]
    assert [r["id"] for r in found] == [str(hotel.pk)]


def test_approving_a_photo_of_a_proposed_hotel_keeps_it_held_for_the_hotel(held, moderator):
    photo = image_approve(held[1], moderator=moderator)
    assert photo.flagged_reason == PROPOSED_HOTEL_REASON and not photo.is_public
    assert photo.reviewed_by == moderator


def test_staff_who_may_only_look_at_hotels_cannot_approve_or_merge(
    client, proposal, hotel, django_user_model
):
    viewer = django_user_model.objects.create_user("clerk", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_hotel"))
    client.force_login(viewer)
    assert "approve_proposals" not in client.get(HOTELS).content.decode()
    for action in ("approve_proposals", "merge_proposals"):
        response = client.post(
            HOTELS, {"action": action, "_selected_action": [proposal.pk], "into": hotel.pk}
        )
        assert 'name="into"' not in response.content.decode()
    assert Hotel.objects.get(pk=proposal.pk).status == Hotel.Status.PROPOSED
    assert "to approve or merge" not in client.get("/admin/").content.decode()


def test_a_photos_page_says_when_its_hotel_is_a_proposal(mod_client, proposal, held):
    html = mod_client.get(f"/admin/rooms/roomimage/{held[1].pk}/change/").content.decode()
    assert f'<a href="/admin/rooms/hotel/{proposal.pk}/change/">proposal</a>' in html
