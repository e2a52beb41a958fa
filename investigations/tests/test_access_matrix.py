"""Every URL of the project × anonymous / traveller / moderator / investigator /
other team / superuser.

URLs are walked from the resolver, so a new URL fails `test_every_url_is_classified`
until someone decides whether it is public, admin-only or investigator-only. A
superuser and a moderator are no investigators; in the admin a moderator reaches the
rooms app only, and a superuser sees searches without photo, EXIF, GPS or results.
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
    r"^receipt/",  # a submission's page by its receipt (the key only its traveller holds)
    r"^i18n/setlang/$",  # the traveller pages' language switcher
    r"^favicon\.ico$",
    r"^api/$",  # the API's index
    r"^api/<path:rest>$",  # unknown API paths: a JSON 404
    r"^api/hotels/$",
    r"^api/submissions/",  # the upload, and a submission's status by its receipt
    r"^api/images/",
    r"^media/",  # public media (served by Django under DEBUG only)
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


@pytest.fixture
def moderator(django_user_model):
    """Staff in the Moderators group: traveller photos and hotels in the admin."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("moderator", is_staff=True)
    user.groups.add(Group.objects.get(name="Moderators"))
    return user


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="x" * 20)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who", ["anonymous", "traveller", "staff_traveller", "moderator", "superuser"]
)
def test_non_investigators_are_refused_everywhere(
    who, request, alice_search, client_for, django_user_model
):
    user = None
    if who == "staff_traveller":  # staff status alone does not make an investigator
        user = django_user_model.objects.create_user("staff", is_staff=True)
    elif who != "anonymous":
        user = request.getfixturevalue(who)
    client = client_for(user)
    for route in routes_of("investigator"):
        path = concrete(route, alice_search)
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert _refused(response), f"{who} {method.upper()} {path} -> {response.status_code}"


@pytest.mark.django_db
def test_token_without_investigator_rights_is_refused(traveller, alice_search):
    from rest_framework.test import APIClient

    from accounts.tokens import token_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=traveller)[1]}")
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


def admin_path(route) -> str:
    """A real path for an admin route: an object id is one of that model's rows when
    there is one (so change, history and delete pages show something), else "1"."""
    from django.contrib import admin
    from django.contrib.contenttypes.models import ContentType

    from investigations.models import Search

    if route.startswith("admin/r/"):  # "view on site": a real (content type, object) pair
        search = Search.objects.order_by("pk").first()
        return f"/admin/r/{ContentType.objects.get_for_model(Search).pk}/{search.pk}/"
    model = next(
        (
            m
            for m in admin.site._registry
            if route.startswith(f"admin/{m._meta.app_label}/{m._meta.model_name}/")
        ),
        None,
    )
    first = model.objects.order_by("pk").first() if model is not None else None
    return concrete(route, str(first.pk) if first is not None else "1")


NOT_MODERATION = ("admin/investigations/", "admin/auth/", "admin/accounts/", "admin/axes/")
# What the Moderators group holds (investigations migration 0007); a newer rooms model
# (blocked uploads) is the rooms app's to grant.
MODERATION = tuple(f"admin/rooms/{m}/" for m in ("chain", "hotel", "submission", "roomimage"))
SECRET_EXIF = {"gps_latitude": 45.5231, "body_serial_number": "SN-4242-SECRET"}


@pytest.fixture
def admin_objects(alice_search, bob, moderator, traveller):
    """A row of every kind the admin lists: users, a search with EXIF, its audit."""
    from investigations.audit import audit_record
    from investigations.models import Search

    Search.objects.filter(pk=alice_search.pk).update(query_exif=SECRET_EXIF)
    audit_record(user=alice_search.owner, search=alice_search)
    return alice_search


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "traveller", "alice", "bob"])
def test_admin_needs_staff(who, request, client_for, admin_objects):
    user = request.getfixturevalue(who) if who != "anonymous" else None
    client = client_for(user)
    for route in routes_of("admin"):
        path = admin_path(route)
        response = client.get(path)
        if path == "/admin/login/":
            continue
        assert response.status_code in (302, 404), f"{who} {path} -> {response.status_code}"
        if response.status_code == 302:
            assert response["Location"].startswith(("/admin/login/", "/admin/")), path


@pytest.mark.django_db
def test_a_moderator_reaches_the_rooms_admin_only(moderator, superuser, client_for, admin_objects):
    client, root = client_for(moderator), client_for(superuser)
    for route in routes_of("admin"):
        path = admin_path(route)
        response = client.get(path)
        assert response.status_code < 500, f"{path} -> {response.status_code}"
        if route.startswith(NOT_MODERATION):
            # 403, or 404 for an app index or a page behind another's permission, or
            # 302 back to the admin index (an object the moderator may not see).
            assert response.status_code in (302, 403, 404), f"{path} -> {response.status_code}"
            assert "/login/" not in response.get("Location", ""), path
        elif route.startswith(MODERATION):  # as far as a superuser (no adding photos)
            assert response.status_code == root.get(path).status_code, path
            assert "/login/" not in response.get("Location", ""), path


@pytest.mark.django_db
def test_the_superuser_admin_shows_no_investigator_data(superuser, client_for, admin_objects):
    client = client_for(superuser)
    hotel_name = admin_objects.hotels[0]["hotel"]["name"]
    for route in routes_of("admin"):
        path = admin_path(route)
        response = client.get(path)
        assert response.status_code < 500, f"{path} -> {response.status_code}"
        if route.startswith("admin/investigations/") and response.status_code == 200:
            body = response.content.decode()
            for leak in ("45.5231", "SN-4242-SECRET", hotel_name, admin_objects.query_image.name):
                assert leak not in body, f"{path} shows {leak}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who", ["anonymous", "traveller", "moderator", "alice", "bob", "superuser"]
)
def test_public_urls_open_to_everyone(who, request, client_for, alice_search):
    client = client_for(request.getfixturevalue(who) if who != "anonymous" else None)
    for route in routes_of("public"):
        response = client.get(concrete(route, alice_search))
        assert response.status_code not in (401, 403), f"{who} {route}"
        assert response.status_code < 500, f"{who} {route}"


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
