import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from PIL import Image

from demo.images import photo, photo_jpeg, render_room, style_for
from demo.management.commands.seed_demo import DEMO_HOTELS
from investigations.permissions import is_investigator
from rooms.models import Chain, Hotel, RoomImage, Submission


def seed(**options):
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def test_seed_creates_hotels_photos_and_accounts_and_is_idempotent(db):
    out = seed()
    hotels = Hotel.objects.filter(external_ref__startswith="DEMO-")
    assert hotels.count() == 8
    assert len(set(hotels.values_list("city", flat=True))) == 3
    assert Chain.objects.count() == 3
    for hotel in hotels:
        assert 2 <= hotel.submissions.count() <= 3
        assert RoomImage.objects.filter(submission__hotel=hotel).count() >= 3
    images = RoomImage.objects.count()
    assert images == 28 and "new photos: 28" in out
    # Real uploads: stored as JPEG files, not flagged as showing a person.
    image = RoomImage.objects.first()
    assert image.file.storage.exists(image.file.name) and image.width == 640
    assert not RoomImage.objects.exclude(flagged_reason="").exists()

    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    assert is_investigator(User.objects.get(username="investigator"))
    assert "/accounts/login/" in out and "password:" in out

    again = seed()
    assert Hotel.objects.count() == 8 and Submission.objects.count() == 20
    assert RoomImage.objects.count() == images
    assert "new photos: 0" in again and "password:" not in again


def test_seed_photos_are_embedded_like_uploads(db, django_capture_on_commit_callbacks):
    from matcher.models import Embedding

    with django_capture_on_commit_callbacks(execute=True):
        seed(hotels=1, no_users=True)
    statuses = set(RoomImage.objects.values_list("status", flat=True))
    assert statuses == {RoomImage.Status.EMBEDDED}
    assert Embedding.objects.count() == RoomImage.objects.count() == 3


def colour_overlap(x, y) -> float:
    """Overlap of two photos' hue/saturation histograms: 1 = same palette, 0 = disjoint.

    Hue and saturation only, so the simulated exposure changes between shots do not count.
    """

    def histogram(image):
        hs = np.asarray(image.convert("HSV")).reshape(-1, 3)[:, :2]
        counts, _ = np.histogramdd(hs, bins=(12, 4), range=[(0, 256)] * 2)
        return counts / counts.sum()

    return float(np.minimum(histogram(x), histogram(y)).sum())


def test_demo_photos_look_alike_within_a_hotel_and_differ_between_decors():
    decors = {}
    for ref, _name, chain, *_ in DEMO_HOTELS:
        decors.setdefault(chain or ref, ref)  # one hotel per decor
    shots = {}
    for decor, ref in decors.items():
        style = style_for(decor, ref)
        room = render_room(style)
        shots[decor] = [photo(style, view, room=room) for view in range(3)]
    within = [colour_overlap(views[0], other) for views in shots.values() for other in views[1:]]
    between = [colour_overlap(shots[a][0], shots[b][0]) for a in shots for b in shots if a < b]
    assert min(within) > max(between)
    assert shots["Cedar Suites"][0].size == (640, 480)


def test_demo_photos_are_deterministic_and_chains_share_decor():
    style = style_for("Chain A", "A-1")
    assert photo_jpeg(style, 1) == photo_jpeg(style, 1)
    assert photo_jpeg(style, 1) != photo_jpeg(style, 2)
    sibling = style_for("Chain A", "A-2")
    assert (sibling.wall, sibling.carpet, sibling.headboard) == (
        style.wall,
        style.carpet,
        style.headboard,
    )
    assert sibling != style
    assert Image.open(io.BytesIO(photo_jpeg(style, 0))).format == "JPEG"


@pytest.mark.parametrize("hotels", [0, 2])
def test_seed_only_first_hotels(db, hotels):
    seed(hotels=hotels, no_users=True)
    assert Hotel.objects.count() == hotels
    assert not get_user_model().objects.exists()
