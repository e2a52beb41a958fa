"""Local-feature re-ranking in the live pipeline: workers store keypoints, searches use them."""

import io
from io import StringIO

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image

from demo import images as demo_images
from investigations.services import investigator_create, search_create
from matcher import embedding, live_rerank
from matcher.models import Embedding, LocalFeatureSet
from matcher.search import search_hotels
from matcher.tasks import embed_image
from matcher.tests.embedding_factories import add_embedding, make_room_image, set_active
from retrieval.verification import RerankConfig
from rooms.models import Hotel, RoomImage

pytestmark = pytest.mark.django_db
Status = RoomImage.Status
VERSION = "test-v1"
DIM = 8
QUERY = np.eye(DIM, dtype=np.float32)[0]


@pytest.fixture(scope="module")
def room():
    """(style, rendered room, a photo of it): a textured scene SIFT finds keypoints in."""
    style = demo_images.style_for("harbour", "Harbour Docks")
    rendered = demo_images.render_room(style)
    return style, rendered, demo_images.photo(style, 7, room=rendered)


def warped(image):
    """The same room from another angle: a perspective warp (verification should hold)."""
    pixels = np.asarray(image)
    h, w = pixels.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = np.float32([[30, 20], [w - 10, 0], [w - 40, h - 10], [0, h - 30]])
    matrix = cv2.getPerspectiveTransform(corners, moved)
    return Image.fromarray(cv2.warpPerspective(pixels, matrix, (w, h), borderMode=1))


def colour_matched_texture(image):
    """An unrelated texture with the photo's mean colour (a global lookalike, no geometry)."""
    pixels = np.asarray(image, dtype=np.float32)
    noise = cv2.GaussianBlur(np.random.default_rng(0).normal(size=pixels.shape[:2]), (0, 0), 3)
    texture = pixels.mean(axis=(0, 1)) + 40 * (noise / noise.std())[..., None]
    return Image.fromarray(texture.clip(0, 255).astype(np.uint8))


def near_query(cosine):
    other = np.eye(DIM, dtype=np.float32)[1]
    return cosine * QUERY + np.sqrt(1 - cosine**2) * other


def add_hotel(name):
    return Hotel.objects.create(
        name=name,
        city="Portland",
        country_code="US",
        latitude=45.5,
        longitude=-122.6,
        external_ref=name,
    )


def embedded_photo(name, cosine, features_of=None):
    """A hotel with one embedded photo at `cosine` to QUERY, with keypoints of `features_of`."""
    hotel = add_hotel(name)
    image = make_room_image(hotel, status=Status.EMBEDDED)
    add_embedding(image, VERSION, near_query(cosine))
    if features_of is not None:
        live_rerank.store_local_features(image.id, live_rerank.describe_local(features_of))
    return image


def jpeg_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# --- the worker ---


def test_the_task_stores_keypoints_with_the_embedding_once(hotel, room):
    style, rendered, _ = room
    content = demo_images.photo_jpeg(style, 0, room=rendered)
    image = make_room_image(hotel, content)

    assert embed_image.apply(args=[image.id]).get() == "embedded"
    assert embed_image.apply(args=[image.id]).get() == "skipped"
    # A redelivered message racing the first run: store_embedding again, same row kept.
    vector = Embedding.objects.get(image=image).as_array()
    version = embedding.get_extractor().version_key
    other = live_rerank.describe_local(colour_matched_texture(demo_images.photo(style, 0)))
    assert embedding.store_embedding(
        image.id, version, vector, expect=Status.EMBEDDED, local_features=other
    )

    row = LocalFeatureSet.objects.get(image=image)
    assert row.version == live_rerank.LOCAL.version
    stored = live_rerank.gallery_features([image.id])[image.id]
    # From the same decode the CNN saw (the stored JPEG at the worker's draft size).
    decoded = embedding.decode(
        embedding.read_stored_bytes(image.file.name),
        embedding.decode_side(embedding.get_extractor()),
    )
    expected = live_rerank.describe_local(decoded)
    assert len(stored) == len(expected) > 50
    np.testing.assert_array_equal(stored.descriptors, expected.descriptors)


def test_keypoints_can_be_switched_off_for_throughput(hotel, room, settings):
    settings.MATCHER_LOCAL_FEATURES = False
    style, rendered, _ = room
    image = make_room_image(hotel, demo_images.photo_jpeg(style, 0, room=rendered))

    assert embed_image.apply(args=[image.id]).get() == "embedded"
    assert Embedding.objects.filter(image=image).exists()
    assert not LocalFeatureSet.objects.filter(image=image).exists()


def test_reembed_path_stores_keypoints_too(hotel, room):
    style, rendered, _ = room
    image = make_room_image(
        hotel, demo_images.photo_jpeg(style, 1, room=rendered), status=Status.EMBEDDED
    )
    add_embedding(image, "older:v1", near_query(0.5))

    assert embedding.embed_new_version([image.id]) == {"embedded": 1}

    assert LocalFeatureSet.objects.filter(image=image).count() == 1


def test_backfill_command_fills_only_what_is_missing(hotel, room):
    style, rendered, _ = room
    missing = make_room_image(
        hotel, demo_images.photo_jpeg(style, 0, room=rendered), status=Status.EMBEDDED
    )
    broken = make_room_image(hotel, b"corrupted on disk", status=Status.EMBEDDED)
    pending = make_room_image(hotel)

    out, err = StringIO(), StringIO()
    call_command("embed", "--local-features", stdout=out, stderr=err)

    assert "1 stored, 1 failed" in out.getvalue()
    assert list(LocalFeatureSet.objects.values_list("image_id", flat=True)) == [missing.id]
    assert not LocalFeatureSet.objects.filter(image__in=[broken, pending]).exists()
    assert list(live_rerank.missing_local_ids()) == [broken.id]
    call_command("embed", "--local-features", stdout=out, stderr=err)
    assert LocalFeatureSet.objects.count() == 1


def test_deleting_an_image_deletes_its_keypoints(room):
    image = embedded_photo("Gone", 0.5, features_of=room[2])
    assert LocalFeatureSet.objects.filter(image_id=image.id).exists()

    image.delete()

    assert not LocalFeatureSet.objects.exists()


# --- the search ---


def test_verification_puts_the_right_hotel_first(room):
    query = room[2]
    set_active(VERSION)
    right = embedded_photo("Right", 0.70, features_of=warped(query))
    embedded_photo("Lookalike", 0.90, features_of=colour_matched_texture(query))
    bare = embedded_photo("No keypoints", 0.80)  # embedded before keypoints were stored

    by_cosine = search_hotels(QUERY, k=3)
    reranked = search_hotels(QUERY, k=3, query_features=live_rerank.describe_local(query))

    names = [[hit["hotel"]["name"] for hit in outcome.hotels] for outcome in (by_cosine, reranked)]
    assert names == [["Lookalike", "No keypoints", "Right"], ["Right", "Lookalike", "No keypoints"]]
    scores = {hit["hotel"]["name"]: hit["score"] for hit in reranked.hotels}
    # A fully verified match: cos + weight (inliers above the cap); the others keep cos.
    lifted = 0.70 + RerankConfig().weight
    assert scores == pytest.approx(
        {"Right": lifted, "Lookalike": 0.9, "No keypoints": 0.8}, abs=1e-4
    )
    assert reranked.hotels[0]["matches"][0]["image_id"] == right.id
    assert bare.id not in live_rerank.gallery_features([bare.id])


def test_damaged_or_empty_keypoints_keep_the_global_score(room):
    set_active(VERSION)
    damaged = embedded_photo("Damaged", 0.9)
    LocalFeatureSet.objects.create(image=damaged, version=live_rerank.LOCAL.version, data=b"xx")
    embedded_photo("Blank", 0.8, features_of=Image.new("RGB", (64, 48), (128, 128, 128)))

    outcome = search_hotels(QUERY, k=2, query_features=live_rerank.describe_local(room[2]))

    assert [(h["hotel"]["name"], h["score"]) for h in outcome.hotels] == [
        ("Damaged", pytest.approx(0.9, abs=1e-4)),
        ("Blank", pytest.approx(0.8, abs=1e-4)),
    ]


def test_an_investigator_search_is_reranked_end_to_end(room):
    """Worker keypoints + the masked query's keypoints: a verified match is lifted."""
    style, rendered, query = room
    hotel = add_hotel("Harbour Docks")
    image = make_room_image(hotel, demo_images.photo_jpeg(style, 0, room=rendered))
    assert embedding.embed_pending([image.id]) == {"embedded": 1}
    user, _ = investigator_create(username="ivy", team_name="T")
    mask = np.zeros((query.height, query.width), dtype=np.uint8)
    mask[100:400, 250:390] = 255  # a standing "person"
    png = io.BytesIO()
    Image.fromarray(mask).save(png, "PNG")

    search = search_create(
        user=user,
        image_file=named(jpeg_bytes(query), "q.jpg"),
        mask_file=named(png.getvalue(), "m.png"),
    )

    match = search.hotels[0]["matches"][0]
    assert match["image_id"] == image.id
    assert match["cosine"] + RerankConfig().weight / 2 < match["score"]  # many inliers
    assert match["score"] <= match["cosine"] + RerankConfig().weight + 1e-6  # each rounded


def named(data, name):
    return SimpleUploadedFile(name, data, "image/png" if name.endswith(".png") else "image/jpeg")
