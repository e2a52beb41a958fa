"""Every URL of the project × anonymous / traveller / investigator / other team.

URLs are walked from the resolver, so a new URL fails `test_every_url_is_classified`
until someone decides whether it is public, admin-only or investigator-only.
"""

import re

import pytest
from django.conf import settings
from django.urls import URLResolver, get_resolver

INVESTIGATOR_ONLY = (r"^investigate/", r"^api/searches/", r"^api/cases/", r"^api/suggest-mask/")
ADMIN_ONLY = (r"^admin/",)
PUBLIC = (
    r"^$",  # upload page
    r"^thanks/",
    r"^api/hotels/$",
    r"^api/submissions/$",
    r"^api/images/",
    r"^api/schema/$",
    r"^api/docs/$",
    r"^accounts/",  # login, logout, password views (Django's own rules)
    r"^healthz$",
)
SAMPLE_ARGS = {"int": "999999", "path": "1", "str": "x", "slug": "x"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def all_routes():
    return sorted(set(_walk(get_resolver().url_patterns)))


def classify(route):
    for kind, patterns in (
        ("investigator", INVESTIGATOR_ONLY),
        ("admin", ADMIN_ONLY),
        ("public", PUBLIC),
    ):
        if any(re.search(p, route) for p in patterns):
            return kind
    return None


def concrete(route, search, image_id=None):
    """A real path for a route: <uuid> = the search (its case on case routes), <revision>
    its first revision, <image_id> = `image_id` (a photo it shows), others sampled."""

    def fill(match):
        converter, name = match.group(1) or "str", match.group(2)
        if converter == "uuid":
            on_case = "cases/" in route and search is not None
            return str(search.case_id if on_case else getattr(search, "pk", search))
        if name == "revision":
            return "1"
        if name == "image_id" and image_id is not None:
            return str(image_id)
        return SAMPLE_ARGS.get(converter, "x")

    path = re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", path)  # regex routes (admin catch-all)
    return "/" + path.lstrip("^").rstrip("$")


def routes_of(kind):
    return [route for route in all_routes() if classify(route) == kind]


def test_every_url_is_classified():
    unclassified = [route for route in all_routes() if classify(route) is None]
    assert not unclassified, f"classify these URLs in {__file__}: {unclassified}"


def test_investigator_urls_exist():
    # The matrix below must not pass vacuously.
    routes = routes_of("investigator")
    assert any("query-image" in r for r in routes)
    assert any(r.startswith("investigate/") for r in routes)


def _refused(response):
    if response.status_code in (401, 403):
        return True
    login = str(settings.LOGIN_URL)
    location = response.get("Location", "")
    return response.status_code == 302 and ("login" in location or login in location)


@pytest.fixture
def shown_photo(hotel):
    """An embedded gallery photo: the evidence URLs of a search that shows it open."""
    from demo import images as demo_images
    from matcher.embedding import embed_pending
    from matcher.tests.embedding_factories import make_room_image

    style = demo_images.style_for("harbour", hotel.name)
    photo = make_room_image(hotel, demo_images.photo_jpeg(style, 0))
    assert embed_pending([photo.id])["embedded"] == 1
    return photo


@pytest.fixture
def alice_search(alice, make_search, shown_photo):
    hotel = shown_photo.submission.hotel
    match = {"image_id": shown_photo.id, "score": 0.9, "url": "/media/x.jpg"}
    fields = ("id", "name", "city", "country_code", "latitude", "longitude")
    summary = {field: getattr(hotel, field) for field in fields} | {"chain": None}
    result = {"rank": 1, "score": 0.9, "hotel": summary}
    from investigations.cases import case_create

    case = case_create(user=alice, reference="A-1", title="the team's case")
    return make_search(alice, hotels=[{**result, "matches": [match]}], case=case)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "traveller", "staff_traveller"])
def test_non_investigators_are_refused_everywhere(
    who, request, alice_search, client_for, django_user_model
):
    user = None
    if who == "traveller":
        user = request.getfixturevalue("traveller")
    elif who == "staff_traveller":  # staff status alone does not make an investigator
        user = django_user_model.objects.create_user("staff", is_staff=True)
    client = client_for(user)
    for route in routes_of("investigator"):
        path = concrete(route, alice_search)
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert _refused(response), f"{who} {method.upper()} {path} -> {response.status_code}"


@pytest.mark.django_db
def test_token_without_investigator_rights_is_refused(traveller, alice_search):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=traveller).key}")
    for route in routes_of("investigator"):
        if route.startswith("api/"):
            response = client.get(concrete(route, alice_search))
            assert response.status_code == 403, route


@pytest.mark.django_db
def test_other_team_gets_404_for_search_objects(bob, alice_search, client_for):
    client = client_for(bob)
    for route in routes_of("investigator"):
        if "<uuid:" not in route:
            continue
        path = concrete(route, alice_search, alice_search.hotels[0]["matches"][0]["image_id"])
        assert client.get(path).status_code == 404, path


@pytest.mark.django_db
@pytest.mark.parametrize("token", [False, True])
def test_owner_and_teammate_reach_search_objects(
    alice, alice_teammate, alice_search, client_for, token
):
    for user in (alice, alice_teammate):
        client = client_for(user, token=token and True)
        for route in routes_of("investigator"):
            if "<uuid:" in route and route.startswith("api/"):
                image_id = alice_search.hotels[0]["matches"][0]["image_id"]
                path = concrete(route, alice_search, image_id)
                response = client.get(path)
                assert response.status_code == 200, f"{user} GET {path}"


@pytest.mark.django_db
def test_investigator_pages_without_objects_open(bob, client_for):
    client = client_for(bob)
    for route in routes_of("investigator"):
        if "<" not in route:
            response = client.get(concrete(route, None))
            assert not _refused(response), route
            assert response.status_code < 500, route


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "traveller", "alice"])
def test_admin_needs_staff(who, request, client_for):
    user = request.getfixturevalue(who) if who != "anonymous" else None
    client = client_for(user)
    for route in routes_of("admin"):
        path = concrete(route, "1")
        response = client.get(path)
        if path == "/admin/login/":
            continue
        assert response.status_code in (302, 404), f"{who} {path} -> {response.status_code}"
        if response.status_code == 302:
            assert response["Location"].startswith(("/admin/login/", "/admin/")), path


@pytest.mark.django_db
def test_public_urls_open_to_anonymous(client_for, alice_search):
    client = client_for(None)
    for route in routes_of("public"):
        response = client.get(concrete(route, alice_search))
        assert response.status_code not in (401, 403), route
        assert response.status_code < 500, route


@pytest.mark.django_db
def test_query_photo_is_not_under_public_media(alice_search, settings):
    from django.core.exceptions import SuspiciousFileOperation
    from django.http import Http404
    from django.test import RequestFactory
    from django.views.static import serve

    name = alice_search.query_image.name
    assert (settings.PRIVATE_MEDIA_ROOT / name).is_file()
    assert not (settings.MEDIA_ROOT / name).exists()
    with pytest.raises(ValueError):
        _ = alice_search.query_image.url
    # Even the development media route (DEBUG only) cannot reach it.
    with pytest.raises(Http404):
        serve(RequestFactory().get(f"/media/{name}"), name, document_root=settings.MEDIA_ROOT)
    with pytest.raises((Http404, SuspiciousFileOperation)):  # 404 / 400 over HTTP
        serve(RequestFactory().get("/media/x"), f"../private/{name}", settings.MEDIA_ROOT)
