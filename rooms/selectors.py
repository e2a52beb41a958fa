"""Reads over the hotel catalogue: search by name and by distance."""

import math

from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.db.models.functions import ASin, Cos, Least, Power, Radians, Sin, Sqrt

from rooms.models import Hotel

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LAT = 111.32
DEFAULT_RADIUS_KM = 50.0
MAX_RADIUS_KM = 1000.0


def hotel_search(
    *, q: str = "", near: tuple[float, float] | None = None, radius_km: float | None = None
) -> QuerySet[Hotel]:
    """Hotels whose name or chain matches `q`, and/or within `radius_km` of `near`.

    With `near`, each hotel carries `distance_km` and the nearest come first;
    otherwise hotels are in name order.
    """
    hotels = Hotel.objects.select_related("chain")
    q = q.strip()
    if q:
        hotels = hotels.filter(Q(name__icontains=q) | Q(chain__name__icontains=q))
    if near is None:
        return hotels.order_by("name", "id")
    lat, lon = near
    radius = DEFAULT_RADIUS_KM if radius_km is None else radius_km
    hotels = hotels.filter(_bounding_box(lat, lon, radius))
    hotels = hotels.annotate(distance_km=_haversine_km(lat, lon))
    return hotels.filter(distance_km__lte=radius).order_by("distance_km", "name", "id")


def _bounding_box(lat: float, lon: float, radius_km: float) -> Q:
    """A cheap index-friendly prefilter; the exact distance is checked afterwards."""
    dlat = radius_km / KM_PER_DEGREE_LAT
    box = Q(latitude__gte=lat - dlat, latitude__lte=lat + dlat)
    cos_lat = math.cos(math.radians(lat))
    if abs(lat) + dlat >= 90 or cos_lat < 1e-6:
        return box  # the circle reaches a pole: every longitude can be inside
    dlon = radius_km / (KM_PER_DEGREE_LAT * cos_lat)
    if dlon >= 180:
        return box
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
