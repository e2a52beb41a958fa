"""POST /api/searches/ under hostile input: only 201 or a JSON 4xx, and no private file left.

Broken photos and masks, masks of the wrong size or type, absurd regions, filters and
k, very long fields. The CNN is replaced by a stand-in (`describe_query`) so thousands
of inputs run in seconds: what is fuzzed here is the input handling in front of it
(the real model's path is test_search_api.py's). Bounded by FUZZ_EXAMPLES, as the
upload fuzz; full run:
    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -s investigations/tests/test_fuzz_search.py
"""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from rest_framework.throttling import ScopedRateThrottle

from investigations.models import Search
from investigations.tests.audit_support import access_entries
from rooms.tests import fuzz_inputs as fz

URL = "/api/searches/"
STATUSES = Counter()


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if STATUSES:
        print(f"\nsearch fuzz: {sum(STATUSES.values())} requests, by status {dict(STATUSES)}")


def fake_describe(image, mask=None):
    """Stands in for the CNN: same contract (EmptyQueryError when nothing is left)."""
    from retrieval.errors import EmptyQueryError

    if mask is not None and np.asarray(mask).all():
        raise EmptyQueryError("all cells erased")
    vector = np.ones(8, dtype=np.float32)
    return vector / np.linalg.norm(vector), "fuzz-model:d8"


@pytest.fixture
def api(monkeypatch, alice, client_for):
    from matcher import services

    monkeypatch.setattr(services, "describe_query", fake_describe)
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"searches": "1000000/hour"})
    client = client_for(alice, token=True)
    client.raise_request_exception = False
    return client


def private_files(settings) -> set[str]:
    root = settings.PRIVATE_MEDIA_ROOT
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def referenced_files() -> set[str]:
    names = set()
    for search in Search.objects.all():
        names.update(getattr(search, "private_files", None) or [search.query_image.name])
    return {name for name in names if name}


masks = st.one_of(
    st.none(),
    st.just(fz.corpus()["mask.png"]),  # the size of the 32x24 corpus photos: valid
    st.just(fz.png(Image.new("L", (32, 24), 255))),  # erases everything
    st.just(fz.png(Image.new("RGBA", (32, 24), (255, 255, 255, 0)))),
    st.tuples(st.integers(1, 80), st.integers(1, 80)).map(lambda s: fz.png(Image.new("1", s))),
    fz.mutated_bytes(),
)
numbers = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0x10", "", " ", "1,5", "½"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
)
regions = st.one_of(
    st.sampled_from(["0,0,10,10", "0,0,32,24", "-1,0,5,5", "1,2", "a,b,c,d", "0,0,0,0"]),
    st.lists(numbers, min_size=0, max_size=6).map(",".join),
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "region": regions,
        "country": st.one_of(st.sampled_from(["US", "us", "U1", "ZZ", ""]), fz.long_or_odd_text),
        "city": fz.long_or_odd_text,
        "chain": st.one_of(numbers, fz.long_or_odd_text),
        "near": st.one_of(st.tuples(numbers, numbers).map(",".join), st.just("45,-122")),
        "radius_km": numbers,
        "k": st.one_of(numbers, st.sampled_from(["1", "10", "100", "101", "0", "-1"])),
    },
)


@fz.fuzz_settings()
@given(
    image=fz.mutated_bytes(), name=fz.file_names, kind=fz.content_types, mask=masks, extra=fields
)
def test_fuzzed_searches_are_201_or_json_4xx(api, settings, image, name, kind, mask, extra):
    data = {"image": fz.uploaded(image, name, kind), **extra}
    if mask is not None:
        data["mask"] = fz.uploaded(mask, "mask.png", "image/png")
    searches = Search.objects.count()
    response = api.post(URL, data)
    STATUSES[response.status_code] += 1
    fz.assert_json_refusal_or_created(response)
    created = Search.objects.count() - searches
    assert created == (response.status_code == 201)  # a refused query leaves no row...
    assert access_entries().count() == Search.objects.count()  # ...and no audit entry
    assert private_files(settings) == referenced_files()  # ...and no query photo


@fz.fuzz_settings()
@given(request=fz.raw_multipart())
def test_fuzzed_search_bodies_are_json_4xx(api, settings, request):
    body, content_type = request
    response = api.generic("POST", URL, body, content_type=content_type)
    STATUSES[response.status_code] += 1
    fz.assert_json_refusal_or_created(response)
    assert response.status_code != 201 and not Search.objects.exists()
    assert private_files(settings) == set()


def test_valid_query_through_the_stand_in_is_201(api, settings):
    response = api.post(
        URL,
        {
            "image": fz.uploaded(fz.corpus()["room.jpg"], "q.jpg", "image/jpeg"),
            "mask": fz.uploaded(fz.corpus()["mask.png"], "m.png", "image/png"),
        },
    )
    assert response.status_code == 201, response.json()
    assert private_files(settings) == referenced_files() != set()
