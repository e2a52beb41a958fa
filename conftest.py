"""Fixtures shared by every app's tests: temporary media, hotels and image bytes, and
`client.force_login(user)` passing the second factor too."""

import io

import pytest
from django.test.client import ClientMixin
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


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_second_factor: force_login leaves the second factor to the test"
    )


@pytest.fixture(autouse=True)
def force_login_passes_second_factor(request, monkeypatch):
    """`client.force_login(user)` skips the password, and here the TOTP code as well (an
    investigator's or staff member's session is marked verified). Tests of the second
    factor itself opt out with `@pytest.mark.real_second_factor`."""
    if request.node.get_closest_marker("real_second_factor"):
        return
    force_login = ClientMixin.force_login

    def force_login_verified(self, user, backend=None):
        from accounts.testing import pass_second_factor

        force_login(self, user, backend)
        pass_second_factor(self, user)

    monkeypatch.setattr(ClientMixin, "force_login", force_login_verified)


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
