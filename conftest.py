"""Fixtures shared by every app's tests: temporary media, hotels and image bytes."""

import io

import pytest
from PIL import Image

from rooms.models import Chain, Hotel


@pytest.fixture(autouse=True)
def media_dirs(settings, tmp_path):
    """Every test writes media (public and private) under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MEDIA_ROOT.mkdir()
    settings.PRIVATE_MEDIA_ROOT.mkdir()
    return settings


@pytest.fixture(autouse=True)
def clear_cache():
    """Rate-limit counters live in the cache: start every test from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fresh_vector_index():
    """The in-process vector index caches rows by id, and ids are reused after rollbacks."""
    from matcher.indexes import reset_index

    reset_index()


@pytest.fixture
def chain(db):
    return Chain.objects.create(name="Harbour Inns")


@pytest.fixture
def hotel(db, chain):
    return Hotel.objects.create(
        name="Harbour Inn Riverside",
        chain=chain,
        address="1 River Road",
        city="Portland",
        country_code="US",
        latitude=45.52,
        longitude=-122.68,
        external_ref="HI-001",
    )


def make_image_bytes(fmt="JPEG", size=(64, 48), color=(120, 80, 40), **save_kwargs) -> bytes:
    """A small real image in the given format (JPEG, PNG, WEBP, HEIF)."""
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    # A gradient so perceptual hashes of different colours differ.
    for x in range(size[0]):
        image.putpixel((x, x * size[1] // size[0]), (255 - color[0], 255 - color[1], 255))
    image.save(buffer, fmt, **save_kwargs)
    return buffer.getvalue()


@pytest.fixture
def image_bytes():
    return make_image_bytes
