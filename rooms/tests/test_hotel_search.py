"""The traveller's hotel search (rooms.selectors.hotel_search, GET /api/hotels/).

On the demo catalogue, plus two accented hotels (the demo list has none). These run
on SQLite, under scripts/pytest-pgvector (PostgreSQL without pg_trgm: the Python
fallback) and on a PostgreSQL with pg_trgm and unaccent (the trigram indexes).
"""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from demo.management.commands.seed_demo import DEMO_HOTELS, hotel_upsert
from rooms import search_text
from rooms.models import Hotel
from rooms.selectors import hotel_search

NORTHSTARS = {
    "Northstar Chicago Loop",
    "Northstar Portland Downtown",
    "Northstar Seattle Waterfront",
    "Northstar São Paulo Paulista",
}
EXTRA_HOTELS = [
    ("TEST-SAO-1", "Northstar São Paulo Paulista", "Northstar Hotels",
     "Avenida Paulista 854", "São Paulo", "BR", -23.5653, -46.6512),
    ("TEST-PAR-1", "Hôtel des Écoles", "",
     "15 Rue Delambre", "Paris", "FR", 48.8413, 2.3275),
    # On Lakeview Avenue, and first by name: ranking must still put Lakeview Guest
    # House (the name) first.
    ("TEST-CHI-4", "Addison Inn", "",
     "900 W Lakeview Ave", "Chicago", "US", 41.9400, -87.6500),
]  # fmt: skip


@pytest.fixture
def catalogue(db):
    return {row[1]: hotel_upsert(row) for row in [*DEMO_HOTELS, *EXTRA_HOTELS]}


def names(q="", **kwargs):
    return [hotel.name for hotel in hotel_search(q=q, **kwargs)]


def test_a_typo_finds_the_hotels_meant(catalogue):
    assert set(names("nortstar")) == NORTHSTARS
    assert names("Lakevew guest") == ["Lakeview Guest House"]


def test_every_word_must_match_somewhere(catalogue):
    assert names("Chicago Northstar") == ["Northstar Chicago Loop"]
    assert names("northstar loop chicago") == ["Northstar Chicago Loop"]
    assert names("Chicago Seattle") == []


def test_city_finds_every_hotel_there(catalogue):
    assert set(names("chicago")) == {
        "Cedar Suites River North",
        "Northstar Chicago Loop",
        "Lakeview Guest House",
        "Addison Inn",
    }


def test_street(catalogue):
    assert names("Glisan") == ["Cedar Suites Pearl District"]
    assert names("wells st") == ["Cedar Suites River North"]
    assert set(names("broadway")) == {"Northstar Portland Downtown", "Lakeview Guest House"}


def test_accents_and_case_are_ignored(catalogue):
    assert names("hotel ecoles") == ["Hôtel des Écoles"]
    # Also the chain "Northstar Hotels", but the name ranks first.
    assert names("HÔTEL")[0] == "Hôtel des Écoles"
    assert names("Sao Paulo") == ["Northstar São Paulo Paulista"]
    assert names("são paulo northstar") == ["Northstar São Paulo Paulista"]


def test_chain_name_matches(catalogue):
    assert set(names("urban nest")) == {"Urban Nest Capitol Hill"}
    assert set(names("northstar hotels seattle")) == {"Northstar Seattle Waterfront"}


def test_a_match_in_the_name_ranks_first(catalogue):
    assert names("lakeview") == ["Lakeview Guest House", "Addison Inn"]


def test_nearest_first_when_the_place_is_known(catalogue):
    seattle = (47.6062, -122.3321)
    assert names("northstar", near=seattle, radius_km=300) == [
        "Northstar Seattle Waterfront",
        "Northstar Portland Downtown",
    ]
    assert names("nortstar", near=seattle, radius_km=5) == ["Northstar Seattle Waterfront"]


def test_without_a_place_best_match_then_name(catalogue):
    assert names("northstar") == sorted(NORTHSTARS)


def test_proposed_hotels_are_never_listed(catalogue):
    proposed = hotel_upsert(("TEST-NEW-1", "Northstar Airport", "Northstar Hotels",
                             "1 Airport Way", "Portland", "US", 45.5898, -122.5951))  # fmt: skip
    Hotel.objects.filter(pk=proposed.pk).update(status=Hotel.Status.PROPOSED)
    assert "Northstar Airport" not in names("northstar airport")
    assert "Northstar Airport" not in names(near=(45.5898, -122.5951))


def test_api_keeps_its_format(catalogue):
    response = APIClient().get("/api/hotels/", {"q": "chicago nortstar"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (hotel,) = body["results"]
    assert set(hotel) == {
        "id", "name", "chain", "address", "city", "country_code", "latitude", "longitude"
    }  # fmt: skip
    assert hotel["name"] == "Northstar Chicago Loop"
    assert hotel["chain"]["name"] == "Northstar Hotels"


def test_upload_page_search_without_javascript(client, catalogue):
    page = client.get("/", {"q": "sao paulo"}).content.decode()
    assert "Northstar São Paulo Paulista" in page
    assert "Northstar Chicago Loop" not in page


def test_schema_documents_the_search_parameters(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    params = {p["name"]: p for p in schema["paths"]["/api/hotels/"]["get"]["parameters"]}
    assert {"q", "near", "radius_km", "page", "page_size"} <= set(params)
    assert "typo" in params["q"]["description"]


def test_fallback_reads_a_bounded_number_of_hotels(catalogue, monkeypatch, caplog):
    if search_text.trigram_ready("default"):
        pytest.skip("the Python fallback: PostgreSQL here has pg_trgm")
    monkeypatch.setattr(search_text, "FALLBACK_SCAN", 3)
    found = names("chicago")
    assert len(found) <= 3
    assert "install pg_trgm" in caplog.text


def test_trigram_index_answers_the_search(catalogue):
    if not search_text.trigram_ready("default"):
        pytest.skip("needs PostgreSQL with pg_trgm and unaccent")
    with connection.cursor() as cursor:
        # As on a large catalogue: reading the whole table is not an option.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        sql, params = hotel_search(q="glisan").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "rooms_hotel_search_trgm" in plan
