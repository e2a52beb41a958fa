"""Every read of investigator data is its own audit row; every refusal on an
investigator URL is recorded; every investigator response is `private, no-store`.

Issue 19, findings 1 and 4.
"""

import pytest

from investigations.middleware import CACHE_CONTROL
from investigations.models import AuditEntry
from investigations.tests.audit_support import access_entries
from investigations.tests.test_access_matrix import concrete, routes_of

pytestmark = pytest.mark.django_db

MIDDLEWARE = "investigations.middleware.InvestigatorResponseMiddleware"
SECRET_EXIF = {"gps_latitude": 45.5231, "gps_longitude": -122.6765, "body_serial_number": "SN-42"}
HOTELS = [
    {
        "rank": 1,
        "score": 0.9,
        "hotel": {
            "id": 7,
            "name": "Harbour Inn Riverside",
            "chain": None,
            "city": "Portland",
            "country_code": "US",
            "latitude": 45.52,
            "longitude": -122.68,
        },
        "matches": [{"image_id": 11, "score": 0.9, "url": "/media/rooms/ab/1.jpg"}],
    }
]


@pytest.fixture(autouse=True)
def investigator_middleware(settings):
    """The middleware in its place (after authentication), whether or not the project's
    settings list it yet."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        middleware = list(settings.MIDDLEWARE)
        at = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
        settings.MIDDLEWARE = [*middleware[:at], MIDDLEWARE, *middleware[at:]]


@pytest.fixture
def search(alice, make_search):
    from investigations.cases import case_create

    case = case_create(user=alice, reference="A-1", title="the team's case")
    return make_search(alice, hotels=HOTELS, query_exif=SECRET_EXIF, case=case)


def _actions(**filters):
    return list(access_entries().filter(**filters).order_by("pk").values_list("action", flat=True))


def _only(action, **filters) -> AuditEntry:
    return access_entries().get(action=action, **filters)


# --- finding 1: reads ---


def test_the_api_view_of_a_search_is_audited(search, alice_teammate, client_for):
    response = client_for(alice_teammate).get(f"/api/searches/{search.pk}/")
    assert response.status_code == 200 and response.json()["query_exif"] == SECRET_EXIF
    entry = _only("search_view", search_id=search.pk)
    assert (entry.username, entry.case_id, entry.result_count) == (
        "alice_teammate",
        search.case_id,
        1,
    )
    assert entry.detail == {"via": "api", "revision": 1}
    assert entry.client_address == "127.0.0.1"


def test_the_results_page_is_audited(search, alice, client_for):
    response = client_for(alice).get(f"/investigate/searches/{search.pk}/")
    assert response.status_code == 200
    assert _only("search_view", search_id=search.pk).detail == {"via": "page", "revision": 1}


def test_the_team_history_is_audited_once_per_page_view(search, alice_teammate, client_for):
    response = client_for(alice_teammate).get("/investigate/searches/?country=US")
    assert response.status_code == 200
    entry = _only("search_list")
    assert entry.username == "alice_teammate" and entry.search_id is None
    assert entry.detail["searches"] == [str(search.pk)]
    assert entry.detail["filters"] == {"country": "US"}


def test_the_cases_list_is_audited_on_the_page_and_the_api(search, alice, client_for):
    client = client_for(alice)
    assert client.get("/investigate/cases/").status_code == 200
    assert client.get("/api/cases/").status_code == 200
    entries = access_entries().filter(action="case_list").order_by("pk")
    assert [entry.detail for entry in entries] == [
        {"via": "page", "cases": [str(search.case_id)]},
        {"via": "api", "cases": [str(search.case_id)]},
    ]


def test_each_export_format_is_its_own_action(search, alice, client_for):
    client = client_for(alice)
    assert client.get(f"/api/searches/{search.pk}/export.csv").status_code == 200
    assert client.get(f"/api/searches/{search.pk}/export.json").status_code == 200
    assert _actions(search_id=search.pk) == ["export_csv", "export_json"]


def test_revision_and_decision_lists_are_audited(search, alice, client_for):
    client = client_for(alice)
    assert client.get(f"/api/searches/{search.pk}/revisions/").status_code == 200
    assert client.get(f"/api/searches/{search.pk}/decisions/").status_code == 200
    assert _actions(search_id=search.pk) == ["revision_list", "decision_list"]


def test_the_compare_page_is_audited(search, alice, client_for):
    response = client_for(alice).get(f"/investigate/searches/{search.pk}/compare/11/")
    assert response.status_code == 200
    assert _only("compare", search_id=search.pk).detail == {
        "via": "page",
        "revision": 1,
        "image": 11,
    }


def test_every_query_photo_view_is_audited_thumbnails_too(search, alice, client_for):
    client = client_for(alice)
    assert client.get(f"/investigate/searches/{search.pk}/query.jpg").status_code == 200
    assert client.get(f"/investigate/searches/{search.pk}/query.jpg?size=thumb").status_code == 200
    sizes = [e.detail["size"] for e in access_entries().filter(action="query_image")]
    assert sorted(sizes) == ["preview", "thumb"]


# --- finding 1: refusals ---


def test_another_teams_attempt_is_recorded_as_not_found(search, bob, client_for):
    client = client_for(bob)
    assert client.get(f"/api/searches/{search.pk}/").status_code == 404
    assert client.get(f"/investigate/cases/{search.case_id}/").status_code == 404
    entries = access_entries().filter(action="not_found").order_by("pk")
    assert [(e.username, e.detail["path"], e.detail["status"]) for e in entries] == [
        ("bob", f"/api/searches/{search.pk}/", 404),
        ("bob", f"/investigate/cases/{search.case_id}/", 404),
    ]
    # Nothing of the search itself: its id is in the path, not in team A's trail.
    assert not access_entries().filter(search_id=search.pk).exists()


@pytest.mark.parametrize("who", ["anonymous", "traveller", "superuser"])
def test_a_forbidden_attempt_is_recorded_as_denied(who, request, search, client_for):
    user = None
    if who == "traveller":
        user = request.getfixturevalue("traveller")
    elif who == "superuser":
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_superuser("root", password="x" * 20)
    response = client_for(user).get(f"/api/searches/{search.pk}/export.json")
    assert response.status_code in (401, 403)
    entry = _only("denied")
    assert entry.username == ("" if user is None else user.username)
    assert entry.detail["path"] == f"/api/searches/{search.pk}/export.json"
    assert entry.detail["method"] == "GET"
    assert entry.detail.get("anonymous", False) is (user is None)
    assert not access_entries().filter(action="export_json").exists()


def test_a_throttled_request_is_recorded(alice, client_for, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "searches": "1/hour",
        },
    }
    client = client_for(alice)
    assert client.post("/investigate/", {}).status_code == 400  # counted, then refused
    assert client.post("/investigate/", {}).status_code == 429
    entry = _only("throttled")
    assert (entry.username, entry.detail["path"], entry.detail["method"]) == (
        "alice",
        "/investigate/",
        "POST",
    )


def test_refusals_outside_the_investigator_urls_are_not_recorded(traveller, client_for):
    client = client_for(traveller)
    assert client.get("/no-such-page/").status_code == 404
    assert client.get("/api/submissions/no-such-receipt/").status_code in (403, 404)
    assert not access_entries().exists()


# --- finding 4: never cached ---


def test_the_api_search_view_is_private_no_store(search, alice, client_for):
    response = client_for(alice).get(f"/api/searches/{search.pk}/")
    assert response.status_code == 200
    assert response["Cache-Control"] == CACHE_CONTROL == "private, no-store"


@pytest.mark.parametrize("who", ["alice", "bob", "traveller", "anonymous"])
def test_every_investigator_response_is_private_no_store(who, request, search, client_for):
    """Pages, API, images, redirects and errors alike, for every investigator URL."""
    user = None if who == "anonymous" else request.getfixturevalue(who)
    client = client_for(user)
    for route in routes_of("investigator"):
        path = concrete(route, search, image_id=11)
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.get("Cache-Control") == "private, no-store", (
                f"{who} {method.upper()} {path} -> {response.status_code} "
                f"{response.get('Cache-Control')!r}"
            )


def test_anonymous_probes_write_one_row_a_minute_per_client(client_for):
    client = client_for(None)
    for n in range(5):
        assert client.get(f"/api/searches/00000000-0000-0000-0000-00000000000{n}/").status_code in (
            401,
            403,
        )
    rows = AuditEntry.objects.filter(action="denied")
    assert rows.count() == 1 and rows.get().detail["anonymous"] is True
