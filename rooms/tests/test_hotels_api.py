import pytest
from rest_framework.test import APIClient

from rooms.models import Chain, Hotel

URL = "/api/hotels/"


@pytest.fixture
def client():
    return APIClient()


def make_hotel(name, lat, lon, chain=None, city="Portland"):
    return Hotel.objects.create(
        name=name,
        chain=chain,
        city=city,
        country_code="US",
        latitude=lat,
        longitude=lon,
        external_ref=f"T-{name}",
    )


@pytest.fixture
def portland(db):
    marriott = Chain.objects.create(name="Marriott")
    return {
        # Roughly 0 km, ~1.1 km and ~5.6 km north of (45.52, -122.68), ~230 km away (Seattle).
        "here": make_hotel("Downtown Lodge", 45.52, -122.68),
        "near": make_hotel("Pearl Suites", 45.53, -122.68, chain=marriott),
        "mid": make_hotel("North Motel", 45.57, -122.68),
        "far": make_hotel("Seattle Grand", 47.61, -122.33, chain=marriott, city="Seattle"),
    }


def names(response):
    return [hotel["name"] for hotel in response.json()["results"]]


def test_search_by_name_is_case_insensitive_and_matches_chain(client, portland):
    assert names(client.get(URL, {"q": "suites"})) == ["Pearl Suites"]
    assert names(client.get(URL, {"q": "marri"})) == ["Pearl Suites", "Seattle Grand"]


def test_hotel_fields(client, portland):
    hotel = client.get(URL, {"q": "Pearl"}).json()["results"][0]
    chain = portland["near"].chain
    assert hotel == {
        "id": portland["near"].id,
        "name": "Pearl Suites",
        "chain": {"id": chain.id, "name": "Marriott"},
        "address": "",
        "city": "Portland",
        "country_code": "US",
        "latitude": 45.53,
        "longitude": -122.68,
    }
    assert client.get(URL, {"q": "Downtown"}).json()["results"][0]["chain"] is None


def test_near_orders_by_distance_and_reports_it(client, portland):
    response = client.get(URL, {"near": "45.52,-122.68"})
    assert response.status_code == 200
    results = response.json()["results"]
    # The default radius (50 km) leaves out Seattle.
    assert [h["name"] for h in results] == ["Downtown Lodge", "Pearl Suites", "North Motel"]
    distances = [h["distance_km"] for h in results]
    assert distances[0] == pytest.approx(0, abs=1e-6)
    assert distances[1] == pytest.approx(1.112, abs=0.01)
    assert distances[2] == pytest.approx(5.56, abs=0.02)


def test_radius_filter(client, portland):
    assert names(client.get(URL, {"near": "45.52,-122.68", "radius_km": 2})) == [
        "Downtown Lodge",
        "Pearl Suites",
    ]
    wide = client.get(URL, {"near": "45.52,-122.68", "radius_km": 300})
    assert names(wide)[-1] == "Seattle Grand"
    assert wide.json()["results"][-1]["distance_km"] == pytest.approx(234, abs=3)


def test_name_and_near_combine(client, portland):
    response = client.get(URL, {"q": "marriott", "near": "47.6,-122.3", "radius_km": 500})
    assert names(response) == ["Seattle Grand", "Pearl Suites"]


def test_near_across_the_antimeridian(client, db):
    make_hotel("Fiji East", -17.0, 179.95)
    make_hotel("Fiji West", -17.0, -179.95)
    make_hotel("Far Away", -17.0, 170.0)
    response = client.get(URL, {"near": "-17.0,179.99", "radius_km": 30})
    assert names(response) == ["Fiji East", "Fiji West"]


def test_pagination(client, db):
    for i in range(25):
        make_hotel(f"Hotel {i:02d}", 10 + i / 1000, 10)
    first = client.get(URL, {"near": "10,10", "page_size": 10}).json()
    assert first["count"] == 25
    assert len(first["results"]) == 10
    assert first["next"] is not None
    last = client.get(URL, {"near": "10,10", "page_size": 10, "page": 3}).json()
    assert [h["name"] for h in last["results"]] == [f"Hotel {i:02d}" for i in range(20, 25)]
    assert last["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"near": "abc"}, "near"),
        ({"near": "45.5"}, "near"),
        ({"near": "45.5,x"}, "near"),
        ({"near": "95,10"}, "near"),
        ({"near": "45,-190"}, "near"),
        ({"near": "45,10", "radius_km": "far"}, "radius_km"),
        ({"near": "45,10", "radius_km": "-1"}, "radius_km"),
        ({"near": "45,10", "radius_km": "5000"}, "radius_km"),
        ({"radius_km": "5"}, "radius_km"),
    ],
)
def test_bad_params_give_400_with_reason(client, db, params, field):
    response = client.get(URL, params)
    assert response.status_code == 400
    reasons = response.json()[field]
    assert reasons and all(isinstance(reason, str) and reason for reason in reasons)
