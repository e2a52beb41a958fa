"""Roles: investigators (searches, cases) and moderators (traveller photos, hotels) are
separate groups; a superuser is neither, and the admin shows nothing of a search's
photo, EXIF, GPS or results. Issue 19, finding 2."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from investigations.models import AuditEntry
from investigations.permissions import INVESTIGATORS_GROUP, MODERATORS_GROUP, is_investigator
from investigations.tests.audit_support import access_entries

pytestmark = pytest.mark.django_db

SECRET_EXIF = {
    "gps_latitude": 45.5231,
    "gps_longitude": -122.6765,
    "body_serial_number": "SN-4242-SECRET",
    "camera_model": "Pixel Secret",
}
HOTELS = [
    {
        "rank": 1,
        "score": 0.9,
        "hotel": {"id": 7, "name": "Ranked Hotel Secret", "city": "Portland", "chain": None},
        "matches": [],
    }
]
LEAKS = ("45.5231", "122.6765", "SN-4242-SECRET", "Pixel Secret", "Ranked Hotel Secret", "queries/")


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="x" * 20)


@pytest.fixture
def bobs_search(bob, make_search):
    return make_search(bob, query_exif=SECRET_EXIF, hotels=HOTELS, filters={"city": "Portland"})


def test_a_superuser_is_not_an_investigator(superuser):
    assert superuser.has_perm("investigations.search_hotels")  # every permission...
    assert not is_investigator(superuser)  # ...but not the group


def test_investigators_are_the_active_members_of_their_group(alice, django_user_model):
    assert is_investigator(alice)
    alice.is_active = False
    assert not is_investigator(alice)
    # The search permission alone (given to a user directly) is not membership.
    from django.contrib.auth.models import Permission

    lone = django_user_model.objects.create_user("lone")
    lone.user_permissions.add(Permission.objects.get(codename="search_hotels"))
    assert not is_investigator(django_user_model.objects.get(pk=lone.pk))


def test_a_superuser_put_in_the_group_explicitly_is_one(superuser):
    superuser.groups.add(Group.objects.get(name=INVESTIGATORS_GROUP))
    assert is_investigator(get_user_model().objects.get(pk=superuser.pk))


def test_a_superuser_cannot_open_another_teams_search(superuser, bobs_search, client_for):
    client = client_for(superuser)
    assert client.get(f"/api/searches/{bobs_search.pk}/").status_code == 403
    assert client.get(f"/investigate/searches/{bobs_search.pk}/").status_code == 403
    assert not access_entries().filter(search_id=bobs_search.pk).exists()


def test_the_admin_shows_a_search_without_photo_exif_gps_or_results(
    superuser, bobs_search, client_for
):
    client = client_for(superuser)
    pages = [
        "/admin/investigations/search/",
        f"/admin/investigations/search/{bobs_search.pk}/change/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = response.content.decode()
        assert str(bobs_search.pk) in body and "Team B" in body
        for leak in LEAKS:
            assert leak not in body, f"{page} shows {leak}"


def test_the_admin_cannot_change_or_delete_searches_or_audit_entries(
    superuser, bobs_search, client_for
):
    from investigations.audit import audit_event

    entry = audit_event(user=superuser, action="login")
    client = client_for(superuser)
    for path in (
        f"/admin/investigations/search/{bobs_search.pk}/delete/",
        f"/admin/investigations/auditentry/{entry.pk}/delete/",
        "/admin/investigations/auditentry/add/",
    ):
        assert client.get(path).status_code == 403, path
        assert client.post(path, {"post": "yes"}).status_code == 403, path
    changelist = client.get("/admin/investigations/auditentry/").content.decode()
    assert "delete_selected" not in changelist
    bulk = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    client.post("/admin/investigations/auditentry/", bulk)
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_moderators_group_holds_the_rooms_permissions_only():
    moderators = Group.objects.get(name=MODERATORS_GROUP)
    codenames = set(moderators.permissions.values_list("content_type__app_label", "codename"))
    for model in ("chain", "hotel", "submission", "roomimage"):
        for action in ("add", "change", "delete", "view"):
            assert ("rooms", f"{action}_{model}") in codenames
    assert {app for app, _ in codenames} == {"rooms"}
    investigators = Group.objects.get(name=INVESTIGATORS_GROUP)
    assert set(investigators.permissions.values_list("content_type__app_label", flat=True)) == {
        "investigations"
    }


def test_a_moderator_is_not_an_investigator(django_user_model):
    moderator = django_user_model.objects.create_user("mod", is_staff=True)
    moderator.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    moderator = django_user_model.objects.get(pk=moderator.pk)
    assert moderator.has_perm("rooms.change_roomimage")
    assert not moderator.has_perm("investigations.view_search")
    assert not is_investigator(moderator)
