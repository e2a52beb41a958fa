"""Learning from the gallery: fit, score on held-out photos, promote only when better."""

import numpy as np
import pytest

from matcher import decisions, learning, services, tasks
from matcher.embedding import EMBEDDING, store_embedding
from matcher.models import Embedding, IndexState, LearnedWhitening
from matcher.tests.embedding_factories import add_embedding, make_room_image, set_active
from rooms.models import Hotel, RoomImage

RAW = "test-raw:aaaa:gem1-320:d32"
DIM = 32


def hotel_vectors(n_hotels, per_hotel, noise, seed=0):
    """Hotels apart along dims 0-15; their photos differ along 16-31 by `noise`."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((n_hotels, DIM))
    centres[:, :16] = rng.normal(size=(n_hotels, 16))
    labels = np.repeat(np.arange(n_hotels), per_hotel)
    vectors = centres[labels] + 0.1 * rng.normal(size=(len(labels), DIM))
    vectors[:, 16:] += noise * rng.normal(size=(len(labels), 16))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def gallery(noise, n_hotels=12, per_hotel=6):
    vectors, labels = hotel_vectors(n_hotels, per_hotel, noise)
    hotels = [
        Hotel.objects.create(
            name=f"Hotel {h}", country_code="US", latitude=0, longitude=0, external_ref=f"LW-{h}"
        )
        for h in range(n_hotels)
    ]
    for vector, label in zip(vectors, labels, strict=True):
        image = make_room_image(hotels[label], status=RoomImage.Status.EMBEDDED)
        add_embedding(image, RAW, vector)
    set_active(RAW)
    return hotels


@pytest.fixture
def noisy_gallery(db):
    """Photos of one hotel differ more than hotels do: raw cosine is poor, whitening helps."""
    return gallery(noise=3.0)


def train(django_capture_on_commit_callbacks, execute=True):
    with django_capture_on_commit_callbacks(execute=execute):
        return tasks.train_and_promote(masked_sample=0)


def test_a_better_whitening_is_promoted_and_served(
    noisy_gallery, django_capture_on_commit_callbacks
):
    row = train(django_capture_on_commit_callbacks)
    row.refresh_from_db()
    assert row.heldout["candidate"] > row.heldout["serving"]
    assert row.key.startswith(f"{RAW}:lw") and row.key.endswith(row.whitening().sha256[:8])
    assert row.state == LearnedWhitening.State.SERVING
    assert IndexState.get().active_version == row.key
    assert Embedding.objects.filter(model_version=row.key).count() == RoomImage.objects.count()


def test_a_whitening_no_better_than_the_serving_model_is_refused(
    db, django_capture_on_commit_callbacks
):
    gallery(noise=0.0)  # every photo already finds its own hotel
    row = train(django_capture_on_commit_callbacks)
    assert row.heldout["serving"] == 1.0
    assert row.state == LearnedWhitening.State.REFUSED
    assert IndexState.get().active_version == RAW
    assert not Embedding.objects.filter(model_version=row.key).exists()


def test_a_lost_promotion_resumes(noisy_gallery, django_capture_on_commit_callbacks):
    row = train(django_capture_on_commit_callbacks, execute=False)  # its tasks never ran
    assert LearnedWhitening.objects.get(pk=row.pk).state == LearnedWhitening.State.PROMOTING
    assert IndexState.get().active_version == RAW  # the search keeps serving the old vectors
    tasks.resume_promotions()
    assert LearnedWhitening.objects.get(pk=row.pk).state == LearnedWhitening.State.SERVING
    assert IndexState.get().active_version == row.key


def test_new_photos_get_the_served_whitening_too(noisy_gallery, django_capture_on_commit_callbacks):
    row = train(django_capture_on_commit_callbacks)
    image = make_room_image(noisy_gallery[0], status=RoomImage.Status.EMBEDDING)
    vector = hotel_vectors(1, 1, 0.0, seed=5)[0][0]
    assert store_embedding(image.id, RAW, vector, expect=EMBEDDING)
    stored = Embedding.objects.get(image=image, model_version=row.key).as_array()
    assert np.allclose(stored, row.whitening().apply(vector[None])[0])


class FakeExtractor:
    version_key = RAW

    def describe_queries(self, images, masks, batch_size):
        return hotel_vectors(1, 4, 1.0, seed=9)[0][None]


def test_queries_are_whitened_like_the_gallery(
    noisy_gallery, django_capture_on_commit_callbacks, monkeypatch
):
    row = train(django_capture_on_commit_callbacks)
    monkeypatch.setattr(services, "get_extractor", FakeExtractor)
    vectors, version = services.describe_query(image=None)
    assert version == row.key
    assert np.allclose(vectors, row.whitening().apply(FakeExtractor().describe_queries(0, 0, 0)[0]))


def test_a_whitening_of_another_descriptor_is_a_mismatch(
    noisy_gallery, django_capture_on_commit_callbacks, monkeypatch
):
    train(django_capture_on_commit_callbacks)
    other = type("Other", (FakeExtractor,), {"version_key": "other:bbbb:gem1-320:d32"})
    monkeypatch.setattr(services, "get_extractor", other)
    with pytest.raises(services.IndexVersionMismatch):
        services.describe_query(image=None)


def test_one_hotel_cannot_be_learned_from(db):
    hotel = Hotel.objects.create(
        name="Alone", country_code="US", latitude=0, longitude=0, external_ref="LW-alone"
    )
    for seed in range(3):
        add_embedding(
            make_room_image(hotel, status=RoomImage.Status.EMBEDDED), RAW, np.eye(DIM)[seed]
        )
    set_active(RAW)
    with pytest.raises(ValueError, match="two hotels"):
        learning.train(masked_sample=0)


# --- investigators' verdicts (matcher.decisions) ---

DECIDED = []  # what the test source yields; set by each test
SHARED = 0.5  # of the near photo's within-hotel dims the query shares


def decided_source():
    return list(DECIDED)


class VectorDescriber:
    """Describes a 'photo' that already is its vector (the decided queries below)."""

    def describe_images(self, images, masks):
        return np.stack(images).astype(np.float32)


def keys_held_out(held: bool, count: int) -> list[str]:
    return [k for k in (f"search:{n}" for n in range(200)) if decisions._held_out(k) == held][
        :count
    ]


@pytest.fixture
def decided(settings):
    settings.MATCHER_DECISIONS_SOURCE = "matcher.tests.test_learning.decided_source"
    DECIDED.clear()
    yield DECIDED
    DECIDED.clear()


def gallery_rows(hotel):
    rows = Embedding.objects.filter(model_version=RAW, image__submission__hotel=hotel)
    return [(row.image_id, row.as_array()) for row in rows.order_by("image_id")]


def test_confirmed_queries_join_their_hotels_photos_in_the_fit(noisy_gallery, decided):
    rejected = gallery_rows(noisy_gallery[-1])[0][0]
    for key, hotel in zip(keys_held_out(False, 3), noisy_gallery, strict=False):
        confirmed, vector = gallery_rows(hotel)[0]
        decided.append(
            decisions_query(key, vector + 0.01, confirmed=[confirmed], rejected=[rejected])
        )
    # Contradictory verdicts (photos of two hotels confirmed) teach nothing: left out.
    two = [gallery_rows(noisy_gallery[0])[1][0], gallery_rows(noisy_gallery[1])[1][0]]
    decided.append(decisions_query(keys_held_out(False, 4)[3], np.ones(DIM), confirmed=two))
    row = learning.train(masked_sample=0, extractor=VectorDescriber())
    assert row.params["confirmed_queries"] == 3
    assert row.params["searches"] == sorted(keys_held_out(False, 3))
    assert "decisions" not in row.heldout  # none held out: nothing to test the fit on


def test_a_whitening_that_orders_held_out_verdicts_worse_is_refused(
    noisy_gallery, decided, monkeypatch
):
    """The gallery says photos of a hotel differ along dims 16-31 (so the whitening
    plays them down); investigators confirmed matches that agree only along those dims."""
    pairs = zip(noisy_gallery, noisy_gallery[1:], strict=False)
    for key, (hotel, other) in zip(keys_held_out(True, 4), pairs, strict=False):
        (near, near_vector), (far, _) = gallery_rows(other)[0], gallery_rows(hotel)[0]
        query = np.concatenate([gallery_rows(hotel)[1][1][:16], SHARED * near_vector[16:]])
        decided.append(decisions_query(key, query, confirmed=[near], rejected=[far]))
    monkeypatch.setattr(decisions, "MIN_GATE_PAIRS", 5)
    row = learning.train(masked_sample=0, extractor=VectorDescriber())
    assert row.heldout["decisions"]["pairs"] == 4
    assert row.state == LearnedWhitening.State.PROMOTING  # 4 pairs: too few to refuse it
    monkeypatch.setattr(decisions, "MIN_GATE_PAIRS", 4)
    row = learning.train(masked_sample=0, extractor=VectorDescriber())
    assert row.heldout["candidate"] > row.heldout["serving"]  # better on the gallery...
    verdicts = row.heldout["decisions"]
    assert verdicts["pairs"] == 4
    assert verdicts["candidate"] < verdicts["serving"]  # ...worse on the verdicts
    assert row.state == LearnedWhitening.State.REFUSED
    assert row.params["confirmed_queries"] == 0  # held-out queries never join the fit


def decisions_query(key, vector, *, confirmed=(), rejected=()):
    from types import SimpleNamespace

    vector = np.asarray(vector, dtype=np.float32)
    return SimpleNamespace(
        key=key,
        image=vector / np.linalg.norm(vector),
        mask=None,
        confirmed=tuple(confirmed),
        rejected=tuple(rejected),
    )
