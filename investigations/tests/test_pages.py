"""Investigator HTML pages: search form, results, recent searches, query preview, login."""

import io
import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.testing import enrol
from demo import images as demo_images
from investigations.models import Search
from investigations.tests.audit_support import access_entries
from investigations.tests.conftest import PASSWORD, png_bytes
from rooms.models import Chain, Hotel, RoomImage
from rooms.services import submission_create

SEARCH_URL = "/investigate/"


# --- helpers ---


def jpeg_upload(data, name="query.jpg"):
    return SimpleUploadedFile(name, data, "image/jpeg")


def private_files(settings):
    return [p for p in settings.PRIVATE_MEDIA_ROOT.rglob("*") if p.is_file()]


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def room_style(index):
    return demo_images.style_for(f"decor-{index}", f"layout-{index}")


def seed_hotels(count=3, views=(0, 1)) -> list[Hotel]:
    """Hotels with real room photos, uploaded through the traveller service.

    The embedding task runs eagerly once each upload commits (no broker in tests):
    the caller must let on_commit callbacks run (transactional test or
    `django_capture_on_commit_callbacks(execute=True)`).
    """
    chain = Chain.objects.create(name="Seed Hotels Group")
    hotels = []
    for index in range(count):
        hotel = Hotel.objects.create(
            name=f"Seed Hotel {index}",
            chain=chain if index % 2 == 0 else None,
            city=["Portland", "Lyon", "Osaka"][index % 3],
            country_code=["US", "FR", "JP"][index % 3],
            latitude=[45.52, 45.76, 34.69][index % 3] + index * 0.01,
            longitude=[-122.68, 4.83, 135.50][index % 3],
            external_ref=f"SEED-{index}",
        )
        style = room_style(index)
        room = demo_images.render_room(style)
        files = [
            jpeg_upload(demo_images.photo_jpeg(style, view, room=room), f"v{view}.jpg")
            for view in views
        ]
        submission_create(hotel=hotel, room_number="101", files=files)
        hotels.append(hotel)
    return hotels


def exif_jpeg(size=(120, 80), orientation=None) -> bytes:
    """A JPEG carrying camera, serial, capture time and GPS tags."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))  # left half blue
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    if orientation:
        exif[0x0112] = orientation
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x9003] = "2026:03:14 21:05:09"
    exif_ifd[0xA431] = "SN-0042"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (45.0, 30.0, 0.0), 3: "W", 4: (122.0, 40.0, 48.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def stored_search(user, *, hotels=(), chains=(), exif=None, region=None, data=None) -> Search:
    """A finished search saved directly (pages only display what search_create stored)."""
    from investigations.selectors import team_of

    search = Search(
        owner=user,
        team=team_of(user),
        query_content_type="image/jpeg",
        query_sha256="0" * 64,
        k=10,
        query_exif=exif or {},
        region=region,
        hotels=list(hotels),
        chains=list(chains),
    )
    search.query_image.save("query.jpg", ContentFile(data or exif_jpeg()), save=False)
    search.save()
    return search


HOTEL_HIT = {
    "rank": 1,
    "score": 2.71828,
    "hotel": {
        "id": 7,
        "name": "Harbour Inn Riverside",
        "chain": "Harbour Inns",
        "city": "Portland",
        "country_code": "US",
        "latitude": 45.52,
        "longitude": -122.68,
    },
    "matches": [{"image_id": 31, "score": 0.93456, "url": "/media/rooms/ab/cd.jpg"}],
}
CHAIN_HIT = {"rank": 1, "score": 2.71828, "chain": {"id": 3, "name": "Harbour Inns"}}


# --- access ---


def test_pages_send_anonymous_users_to_the_login_page(client, db):
    for url in (SEARCH_URL, "/investigate/searches/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_pages_refuse_signed_in_non_investigators(traveller):
    client = logged_in(traveller)
    assert client.get(SEARCH_URL).status_code == 403
    assert client.post(SEARCH_URL, {}).status_code == 403
    assert client.get("/investigate/searches/").status_code == 403


def test_login_page_signs_an_investigator_in_and_returns_to_the_search(client, alice):
    page = client.get("/accounts/login/?next=/investigate/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/investigate/"}
    )
    assert response.status_code == 302  # to the second factor, then to the search
    assert enrol(client, alice).status_code == 302
    assert client.get("/investigate/").status_code == 200
    bad = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and 'id="login-errors"' in bad.content.decode()


def test_logout_shows_the_logged_out_page(alice):
    client = logged_in(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 200 and "You are logged out" in response.content.decode()
    assert client.get(SEARCH_URL).status_code == 302


# --- the search form ---


def test_search_page_has_the_eraser_and_a_plain_form_fallback(alice):
    response = logged_in(alice).get(SEARCH_URL)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"  # the investigator middleware
    html = response.content.decode()
    assert 'id="search-form"' in html and 'enctype="multipart/form-data"' in html
    assert re.search(r'<input type="file" name="image"[^>]*accept="image/\*', html)
    assert re.search(r'<input type="file" name="mask"', html)
    assert 'type="hidden" name="region"' in html
    for element in ("eraser-photo", "eraser-mask", "eraser-ui", "eraser-brush", "eraser-undo"):
        assert f'id="{element}"' in html
    assert "investigations/eraser.js" in html
    # Hidden until the script shows it: without JS the form is a plain upload.
    assert re.search(r'<section id="eraser"[^>]* hidden', html)
    for name in ("country", "city", "chain", "latitude", "longitude", "radius_km", "k"):
        assert f'name="{name}"' in html


def test_search_with_a_mask_and_region_stores_it_and_redirects_to_the_results(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        hotels = seed_hotels()
    assert RoomImage.objects.filter(status="embedded").count() == 6
    style = room_style(1)
    query = demo_images.photo(style, 2, size=(480, 360))  # a view not in the catalogue
    mask = np.zeros((360, 480), dtype=bool)
    mask[100:250, 180:300] = True  # "the victim"
    buffer = io.BytesIO()
    query.save(buffer, "JPEG", quality=90)
    response = logged_in(alice).post(
        SEARCH_URL,
        {
            "image": jpeg_upload(buffer.getvalue()),
            "mask": SimpleUploadedFile("mask.png", png_bytes(mask), "image/png"),
            "region": "10,10,460,340",
            "k": "10",
        },
    )
    search = Search.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/investigate/searches/{search.pk}/"
    assert search.owner == alice and search.region == [10, 10, 460, 340] and search.mask_sha256
    assert search.hotels[0]["hotel"]["id"] == hotels[1].pk
    html = logged_in(alice).get(response["Location"]).content.decode()
    assert html.index("Seed Hotel 1") < html.index("Seed Hotel 0")
    assert "Parts of this photo were erased" in html and 'class="inv-region"' in html


def test_search_filters_reach_the_service(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        hotels = seed_hotels()
    query = demo_images.photo_jpeg(room_style(1), 2)
    response = logged_in(alice).post(
        SEARCH_URL,
        {"image": jpeg_upload(query), "country": "us", "chain": hotels[0].chain_id, "k": "5"},
    )
    assert response.status_code == 302
    search = Search.objects.get()
    assert search.filters["country"] == "US" and search.k == 5
    assert [hit["hotel"]["id"] for hit in search.hotels] == [hotels[0].pk]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"image": b"not an image at all"}, "image"),
        ({"mask": "wrong-size"}, "mask is 10x10 but the photo is 64x48"),
        ({"mask": "everything"}, "nothing left to search"),
        ({"region": "0,0,500,500"}, "is not inside the 64x48 photo"),
        ({"region": "a,b"}, "use four whole numbers"),
        ({"country": "USA"}, "two-letter"),
        ({"latitude": "45.5"}, "Give both latitude and longitude"),
        ({"latitude": "95", "longitude": "0"}, "less than or equal to 90"),
        ({"k": "7"}, "Select a valid choice"),
    ],
)
def test_bad_input_re_renders_the_form_with_the_reason_and_leaves_nothing(
    alice, image_bytes, settings, fields, reason
):
    data = {"image": jpeg_upload(image_bytes()), "k": "10"}
    for key, value in fields.items():
        if key == "image":
            data["image"] = jpeg_upload(value)
        elif value == "wrong-size":
            data["mask"] = SimpleUploadedFile("m.png", png_bytes(np.ones((10, 10), bool)))
        elif value == "everything":
            data["mask"] = SimpleUploadedFile("m.png", png_bytes(np.ones((48, 64), bool)))
        else:
            data[key] = value
    response = logged_in(alice).post(SEARCH_URL, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="form-errors"' in html and reason in html
    assert 'id="search-form"' in html
    assert not Search.objects.exists() and not access_entries().exists()
    assert private_files(settings) == []


def test_search_page_shares_the_api_rate_limit(alice, image_bytes, settings, client_for):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"uploads": "60/hour", "searches": "2/hour"},
    }
    api = client_for(alice).post("/api/searches/", {"image": jpeg_upload(image_bytes())})
    page = logged_in(alice)
    first = page.post(SEARCH_URL, {"image": jpeg_upload(image_bytes()), "k": "10"})
    second = page.post(SEARCH_URL, {"image": jpeg_upload(image_bytes()), "k": "10"})
    assert api.status_code == 201 and first.status_code == 302
    assert second.status_code == 429 and "Too many searches" in second.content.decode()
    assert Search.objects.count() == 2


# --- results ---


def test_results_page_shows_hotels_chains_exif_map_and_exports(alice):
    exif = {"camera_make": "Canon", "body_serial_number": "SN-0042", "gps_latitude": 45.5}
    search = stored_search(alice, hotels=[HOTEL_HIT], chains=[CHAIN_HIT], exif=exif)
    response = logged_in(alice).get(f"/investigate/searches/{search.pk}/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "Harbour Inn Riverside" in html and "Harbour Inns" in html
    assert "Portland, US" in html and "45.52000, -122.68000" in html
    assert "score 2.718" in html and "score 0.935" in html
    assert 'src="/media/rooms/ab/cd.jpg"' in html
    assert re.search(r"<dt>Serial number</dt><dd>SN-0042</dd>", html)
    assert re.search(r"<dt>Camera make</dt><dd>Canon</dd>", html)
    assert f"/api/searches/{search.pk}/export.csv" in html
    assert f"/api/searches/{search.pk}/export.json" in html
    assert f'src="/investigate/searches/{search.pk}/query.jpg?revision=1"' in html
    assert '"lat": 45.52, "lon": -122.68' in html and "vendor/leaflet/leaflet.js" in html
    assert 'id="map-tile-url" type="application/json">""<' in html  # offline by default


def test_results_page_uses_the_configured_tile_server(alice, settings):
    settings.MAP_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    search = stored_search(alice, hotels=[HOTEL_HIT])
    html = logged_in(alice).get(f"/investigate/searches/{search.pk}/").content.decode()
    assert '"https://tiles.example.org/{z}/{x}/{y}.png"' in html


def test_results_page_without_matches_says_so_and_draws_no_map(alice):
    search = stored_search(alice)
    html = logged_in(alice).get(f"/investigate/searches/{search.pk}/").content.decode()
    assert 'id="no-results"' in html and "results-map" not in html
    assert "carries no camera, time or location metadata" in html


def test_results_are_visible_to_the_team_only(alice, alice_teammate, bob):
    search = stored_search(alice, hotels=[HOTEL_HIT])
    url = f"/investigate/searches/{search.pk}/"
    assert logged_in(alice_teammate).get(url).status_code == 200
    assert logged_in(bob).get(url).status_code == 404
    assert logged_in(bob).get(f"{url}query.jpg").status_code == 404
    assert Client().get(url).status_code == 302


def test_region_box_is_placed_in_percent_of_the_upright_photo(alice):
    # Stored 120x80 with orientation 6: upright it is 80 wide and 120 high.
    data = exif_jpeg(size=(120, 80), orientation=6)
    search = stored_search(alice, hotels=[HOTEL_HIT], region=[20, 30, 40, 60], data=data)
    html = logged_in(alice).get(f"/investigate/searches/{search.pk}/").content.decode()
    assert 'style="left:25.000%;top:25.000%;width:50.000%;height:50.000%"' in html


def test_query_preview_is_upright_without_metadata_and_audited(alice):
    search = stored_search(alice, data=exif_jpeg(size=(120, 80), orientation=6))
    response = logged_in(alice).get(f"/investigate/searches/{search.pk}/query.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]
    preview = Image.open(io.BytesIO(response.content))
    assert preview.size == (80, 120)  # orientation applied
    assert not preview.getexif() and "exif" not in preview.info
    # Rotated 90° clockwise: the blue left half is now on top.
    top, bottom = preview.getpixel((40, 10)), preview.getpixel((40, 110))
    assert top[2] > 150 > top[0] and bottom[0] > 150 > bottom[2]
    entry = access_entries().get()
    assert (entry.action, entry.username, entry.search_id) == ("query_image", "alice", search.pk)


def test_query_preview_shows_the_erased_area_in_red(alice):
    search = stored_search(alice, data=exif_jpeg(size=(120, 80), orientation=1))
    mask = Image.new("L", (120, 80), 0)
    mask.paste(255, (0, 0, 60, 80))  # the left half was erased
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    search.query_mask.save("mask.png", ContentFile(buffer.getvalue()))
    response = logged_in(alice).get(f"/investigate/searches/{search.pk}/query.jpg")
    preview = Image.open(io.BytesIO(response.content)).convert("RGB")
    erased, kept = preview.getpixel((20, 40)), preview.getpixel((100, 40))
    assert erased[0] > 100 and erased[2] < 150  # blue (30, 30, 200) under a red tint
    assert kept[0] > 150 > kept[2]  # the right half is untouched


# --- recent searches ---


def test_recent_searches_list_the_team_newest_first(alice, alice_teammate, bob):
    older = stored_search(alice_teammate, hotels=[HOTEL_HIT])
    newer = stored_search(alice)
    other_team = stored_search(bob)
    response = logged_in(alice).get("/investigate/searches/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(str(newer.pk)) < html.index(str(older.pk))
    assert str(other_team.pk) not in html
    assert "Harbour Inn Riverside (Portland)" in html and "alice_teammate" in html
