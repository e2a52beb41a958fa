"""One parser for a place and one rule for a radius, shared by the API and the search."""

import math

import pytest

from rooms.geo import MAX_RADIUS_KM, parse_point, parse_radius


@pytest.mark.parametrize(
    ("value", "point"),
    [("45.52,-122.68", (45.52, -122.68)), (" -17 , 179.99 ", (-17.0, 179.99)), ([1, 2], (1, 2))],
)
def test_points(value, point):
    assert parse_point(value) == point


@pytest.mark.parametrize("value", ["abc", "45.5", "45.5,x", "95,10", "45,-190", "1,2,3", "nan,0"])
def test_bad_points_say_why(value):
    with pytest.raises(ValueError, match="LAT|latitude"):
        parse_point(value)


def test_radius_rule():
    assert parse_radius("25") == 25.0
    assert parse_radius(MAX_RADIUS_KM) == MAX_RADIUS_KM
    for bad in ("far", "-1", "0", MAX_RADIUS_KM + 1, math.nan, math.inf):
        with pytest.raises(ValueError, match="radius"):
            parse_radius(bad)
