"""POST /api/submissions/ under hostile input: only 201 or a JSON 4xx, and no orphan file.

Bounded by default (FUZZ_EXAMPLES, see fuzz_inputs.py); the full run:
    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -s rooms/tests/test_fuzz_uploads.py
prints the answers it got per status code.
"""

from collections import Counter

import pytest
from django.db.models import FileField
from hypothesis import given
from hypothesis import strategies as st

from rooms.models import RoomImage, Submission
from rooms.storage import PRIVATE_PREFIX
from rooms.tests import fuzz_inputs as fz

URL = "/api/submissions/"
STATUSES = Counter()


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if STATUSES:
        print(f"\nupload fuzz: {sum(STATUSES.values())} requests, by status {dict(STATUSES)}")


@pytest.fixture
def api(client, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "1000000/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client.raise_request_exception = False  # a 500 must show as a 500, not a traceback
    return client


def stored_names() -> set[str]:
    fields = [f.name for f in RoomImage._meta.get_fields() if isinstance(f, FileField)]
    return {name for row in RoomImage.objects.values_list(*fields) for name in row if name}


def files_on_disk(settings) -> set[str]:
    """Stored names of the files in public media and (prefixed) in private storage."""
    sides = [(settings.MEDIA_ROOT, ""), (settings.PRIVATE_MEDIA_ROOT, PRIVATE_PREFIX)]
    return {
        prefix + str(p.relative_to(root)) for root, prefix in sides for p in root.rglob("*")
        if p.is_file()
    }  # fmt: skip


def assert_nothing_orphaned(settings):
    assert files_on_disk(settings) == stored_names()


hotel_values = st.one_of(
    st.just("valid"),
    st.just("valid"),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    fz.long_or_odd_text,
)
photos = st.lists(st.tuples(fz.mutated_bytes(), fz.file_names, fz.content_types), max_size=6)


@fz.fuzz_settings()
@given(photos=photos, hotel_value=hotel_values, room=st.one_of(st.just("101"), fz.long_or_odd_text))
def test_fuzzed_submissions_are_201_or_json_4xx(api, hotel, settings, photos, hotel_value, room):
    data = {
        "hotel": hotel.id if hotel_value == "valid" else hotel_value,
        "room_number": room,
        "images": [fz.uploaded(body, name, kind) for body, name, kind in photos],
    }
    submissions = Submission.objects.count()
    response = api.post(URL, data)
    STATUSES[response.status_code] += 1
    body = fz.assert_json_refusal_or_created(response)
    created = Submission.objects.count() - submissions
    assert created == (response.status_code == 201)  # a refusal leaves no row
    if response.status_code == 201:
        for image in body["images"]:
            if image["id"]:  # null for a photo already stored
                stored = RoomImage.objects.get(public_id=image["id"])
                assert stored.stored_bytes(thumbnail=False)[:2] == b"\xff\xd8"  # JPEG
    assert_nothing_orphaned(settings)


@fz.fuzz_settings()
@given(request=fz.raw_multipart())
def test_fuzzed_request_bodies_are_json_4xx(api, hotel, settings, request):
    body, content_type = request
    response = api.generic("POST", URL, body, content_type=content_type)
    STATUSES[response.status_code] += 1
    fz.assert_json_refusal_or_created(response)
    assert response.status_code != 201 and not Submission.objects.exists()
    assert_nothing_orphaned(settings)


def test_corpus_covers_every_kind_of_seed():
    names = set(fz.corpus())
    for expected in ("room.jpg", "room.png", "room.webp", "room.heic", "truncated.jpg"):
        assert expected in names
    assert {"bomb-header.png", "polyglot.jpg", "html.jpg", "svg.png", "empty.jpg"} <= names
    assert all(len(data) < 4096 for data in fz.corpus().values())  # tiny, as committed


@pytest.mark.parametrize(
    ("seed", "status"),
    [
        ("room.jpg", 201),
        ("room.heic", 201),
        ("truncated.jpg", 400),
        ("bomb-header.png", 400),
        ("html.jpg", 400),
        ("svg.png", 400),
        ("empty.jpg", 400),
        ("room.gif", 400),
    ],
)
def test_each_seed_gets_its_expected_answer(api, hotel, settings, seed, status):
    data = {
        "hotel": hotel.id,
        "room_number": "12",
        "images": [fz.uploaded(fz.corpus()[seed], seed, "image/jpeg")],
    }
    response = api.post(URL, data)
    body = fz.assert_json_refusal_or_created(response)
    assert response.status_code == status, body
    assert_nothing_orphaned(settings)


def test_real_decompression_bomb_is_refused_before_decoding(api, hotel, settings):
    bomb = fz.uploaded(fz.bomb_png(), "bomb.png", "image/png")
    response = api.post(URL, {"hotel": hotel.id, "room_number": "1", "images": [bomb]})
    assert response.status_code == 400
    assert "megapixel" in response.json()["errors"][0]["reason"]
    assert_nothing_orphaned(settings)


def test_polyglot_is_stored_as_a_clean_jpeg_without_the_script(api, hotel, settings):
    polyglot = fz.uploaded(fz.corpus()["polyglot.jpg"], "x.html", "text/html")
    response = api.post(URL, {"hotel": hotel.id, "room_number": "1", "images": [polyglot]})
    assert response.status_code == 201
    stored = RoomImage.objects.get().file
    content = stored.read()
    assert content.startswith(b"\xff\xd8") and b"<script" not in content
    assert stored.name.endswith(".jpg") and "html" not in stored.name


# --- requests Django refuses before any view code runs ---


def test_body_over_the_memory_limit_is_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api.post(
        URL, "room_number=" + "1" * 500, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is too large."


def test_too_many_fields_is_a_json_400(api):
    body = "&".join(f"f{i}=1" for i in range(1100))
    response = api.post(URL, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "too many form fields" in response.json()["detail"]


def test_too_many_files_is_a_json_400(api, hotel, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [fz.uploaded(fz.corpus()["room.jpg"], f"{i}.jpg", "image/jpeg") for i in range(5)]
    response = api.post(URL, {"hotel": hotel.id, "room_number": "1", "images": files})
    assert response.status_code == 400
    assert response.json()["detail"]
    assert_nothing_orphaned(settings)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_wrong_method_is_a_json_405(api, method):
    response = getattr(api, method)(URL)
    assert response.status_code == 405 and response.json()["detail"]


def test_wrong_content_type_is_a_json_415(api):
    response = api.post(URL, '{"hotel": 1}', content_type="application/json")
    assert response.status_code == 415 and "Unsupported media type" in response.json()["detail"]


def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at this URL; see /api/ for the list."}


def test_unknown_page_is_still_an_html_404(api):
    response = api.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
