"""Reads over the hotel catalogue: the one hotel filter (words, place, chain, distance).

`hotels_filtered` is what both the public hotel API and the investigator's visual
search restrict hotels with, so a filter means the same in both. `hotel_search` is
the traveller's search box: listed hotels only, best match or nearest first.
"""

import math
from dataclasses import dataclass

from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.db.models.functions import ASin, Cos, Least, Power, Radians, Sin, Sqrt

from rooms.geo import DEFAULT_RADIUS_KM
from rooms.models import Chain, Hotel
from rooms.search_text import search_words, text_matches

EARTH_RADIUS_KM = 6371.0088


@dataclass
class HotelFilters:
    q: str = ""  # words of the name, chain, city or street (rooms/search_text.py)
    country: str = ""  # ISO 3166 alpha-2
    city: str = ""  # case-insensitive exact
    chain: Chain | None = None
    near: tuple[float, float] | None = None  # (lat, lon)
    radius_km: float | None = None  # with near; DEFAULT_RADIUS_KM when None

    @property
    def active(self) -> bool:
        return bool(self.q.strip() or self.country or self.city or self.chain or self.near)


def hotels_filtered(filters: HotelFilters) -> QuerySet[Hotel]:
    """Hotels passing every filter given; with `near`, each carries `distance_km`, with
    `q`, `match_score`.

    The distance is a bounding box (index-friendly, antimeridian-aware), then the
    great-circle distance, both in SQL.
    """
    hotels = Hotel.objects.all()
    if filters.country:
        hotels = hotels.filter(country_code=filters.country.upper())
    if filters.city:
        hotels = hotels.filter(city__iexact=filters.city)
    if filters.chain:
        hotels = hotels.filter(chain=filters.chain)
    if filters.near is not None:
        lat, lon = filters.near
        radius = DEFAULT_RADIUS_KM if filters.radius_km is None else filters.radius_km
        hotels = hotels.filter(_bounding_box(lat, lon, radius))
        hotels = hotels.annotate(distance_km=_haversine_km(lat, lon))
        hotels = hotels.filter(distance_km__lte=radius)
    words = search_words(filters.q)
    # Last: without pg_trgm the words are matched in Python, over the hotels left.
    return text_matches(hotels, words) if words else hotels


def hotel_search(
    *, q: str = "", near: tuple[float, float] | None = None, radius_km: float | None = None
) -> QuerySet[Hotel]:
    """Listed hotels matching every word of `q`, and/or within `radius_km` of `near`.

    With `near`, the nearest come first (the traveller is standing in the hotel), then
    the best match; without, the best match first. Proposed hotels are never listed.
    """
    hotels = hotels_filtered(HotelFilters(near=near, radius_km=radius_km))
    hotels = hotels.exclude(status=Hotel.Status.PROPOSED)
    order = ["distance_km"] if near is not None else []
    words = search_words(q)
    if words:
        hotels = text_matches(hotels, words)
        order.append("-match_score")
    return hotels.select_related("chain").order_by(*order, "name", "id")


def _bounding_box(lat: float, lon: float, radius_km: float) -> Q:
    """A cheap index-friendly prefilter; the exact distance is checked afterwards."""
    angle = radius_km / EARTH_RADIUS_KM  # the radius as an angle at the centre of the Earth
    dlat = math.degrees(angle)
    box = Q(latitude__gte=lat - dlat, latitude__lte=lat + dlat)
    cos_lat = math.cos(math.radians(lat))
    if abs(lat) + dlat >= 90 or angle >= math.pi / 2 or math.sin(angle) >= cos_lat:
        return box  # the circle reaches a pole: every longitude can be inside
    # The widest longitude of a circle is not at its centre's latitude but poleward of
    # it: asin(sin(r) / cos(lat)) bounds it exactly.
    dlon = math.degrees(math.asin(math.sin(angle) / cos_lat))
    west, east = lon - dlon, lon + dlon
    if west < -180:  # the box wraps across the antimeridian
        return box & (Q(longitude__gte=west + 360) | Q(longitude__lte=east))
    if east > 180:
        return box & (Q(longitude__gte=west) | Q(longitude__lte=east - 360))
    return box & Q(longitude__gte=west, longitude__lte=east)


def _haversine_km(lat: float, lon: float) -> ExpressionWrapper:
    """Great-circle distance from (lat, lon) to each row, in portable SQL.

    Django registers SIN/COS/ASIN/... on SQLite connections, and PostgreSQL has
    them built in, so the same expression runs on both.
    """
    half_dlat = Radians(F("latitude") - Value(lat)) / 2
    half_dlon = Radians(F("longitude") - Value(lon)) / 2
    a = Power(Sin(half_dlat), 2) + Value(math.cos(math.radians(lat))) * Cos(
        Radians(F("latitude"))
    ) * Power(Sin(half_dlon), 2)
    # Rounding can push `a` a hair above 1 for antipodal points; ASIN would fail.
    central_angle = 2 * ASin(Sqrt(Least(a, Value(1.0))))
    return ExpressionWrapper(central_angle * EARTH_RADIUS_KM, output_field=FloatField())
