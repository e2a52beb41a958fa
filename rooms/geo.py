"""Places given as text: one parser for a point, one rule for a radius.

Used by the hotel API, the investigator's search form and the search service alike,
so "near" means the same everywhere. Errors are `ValueError` with a reason a person
can act on; each caller turns them into its own 400.
"""

MIN_RADIUS_KM = 0.01
MAX_RADIUS_KM = 1000.0  # beyond a region, "near" is no filter: use the country instead
DEFAULT_RADIUS_KM = 50.0


def parse_point(value) -> tuple[float, float]:
    """(lat, lon) from 'LAT,LON' in decimal degrees (or a pair of numbers)."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    if len(parts) != 2:
        raise ValueError("use LAT,LON in decimal degrees, for example 45.52,-122.68")
    try:
        lat, lon = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise ValueError("LAT and LON must be numbers, for example 45.52,-122.68") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude must be within ±90 and longitude within ±180")
    return lat, lon


def parse_radius(value) -> float:
    """A radius in kilometres within [MIN_RADIUS_KM, MAX_RADIUS_KM]."""
    try:
        radius = float(value)
    except (TypeError, ValueError):
        raise ValueError("the radius must be a number of kilometres") from None
    if not MIN_RADIUS_KM <= radius <= MAX_RADIUS_KM:  # also refuses nan
        raise ValueError(f"the radius must be from {MIN_RADIUS_KM:g} to {MAX_RADIUS_KM:g} km")
    return radius
