"""Mask-aware pooling: erased cells must not count (the real Lite0, small images)."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from retrieval.descriptors import DescriptorConfig, DescriptorExtractor, query_similarity
from retrieval.errors import EmptyQueryError
from retrieval.images import ROTATIONS, fill_erased
from retrieval.pooling import gem, keep_weights


@pytest.fixture(scope="module")
def extractor():
    return DescriptorExtractor()


def _stripes(colours, vertical, count):
    image = Image.new("RGB", (320, 240))
    draw = ImageDraw.Draw(image)
    for i in range(count):
        box = [i * 320 // count, 0, (i + 1) * 320 // count, 240]
        if not vertical:
            box = [0, i * 240 // count, 320, (i + 1) * 240 // count]
        draw.rectangle(box, fill=colours[i % len(colours)])
    return image


def _scene(seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    return Image.fromarray(pixels).resize((320, 240), Image.NEAREST)


def _left_half_mask():
    mask = np.zeros((240, 320), dtype=bool)
    mask[:, :160] = True
    return mask


def test_gem_ignores_zero_weight_cells():
    fmap = torch.ones(2, 2, 2)
    fmap[:, 0, 0] = 100.0
    weights = torch.ones(2, 2)
    weights[0, 0] = 0
    assert torch.allclose(gem(fmap, 3.0, weights), torch.ones(2))


def test_keep_weights_follow_the_mask():
    weights = keep_weights(_left_half_mask(), (6, 8))
    assert weights[:, :4].max() == 0
    assert weights[:, 4:].min() == 1


def test_changing_pixels_under_the_mask_moves_the_masked_descriptor_much_less(extractor):
    mask = _left_half_mask()
    room = np.asarray(_stripes([(200, 30, 30), (240, 240, 240)], vertical=True, count=12))
    person = np.asarray(_stripes([(20, 20, 200), (250, 220, 0)], vertical=False, count=10))
    other = room.copy()
    other[mask] = person[mask]
    maps = extractor.feature_maps([Image.fromarray(room), Image.fromarray(other)])
    masked_drift = 1 - float(extractor.pool(maps[0], mask) @ extractor.pool(maps[1], mask))
    naive_drift = 1 - float(extractor.pool(maps[0]) @ extractor.pool(maps[1]))
    # Kept cells still see the erased half through their receptive field (measured
    # 0.128 vs 0.162 here with the weights' own input scaling, 0.096 with ImageNet's),
    # so the masked vector moves less, not zero...
    assert masked_drift < 0.85 * naive_drift
    # ...which is why the erased pixels are also filled from their surroundings first:
    # then the person does not move the descriptor at all.
    filled = extractor.describe_images([Image.fromarray(room), Image.fromarray(other)], [mask] * 2)
    assert 1 - float(filled[0] @ filled[1]) < 0.01


def test_what_is_under_the_mask_never_reaches_the_query_descriptor(extractor):
    """describe_images inpaints erased pixels from their surroundings before the CNN."""
    mask = np.zeros((240, 320), dtype=bool)
    mask[40:220, 120:200] = True  # a person standing in the middle
    room = np.asarray(_stripes([(200, 30, 30), (240, 240, 240)], vertical=True, count=12))
    person = np.asarray(_stripes([(20, 20, 200), (250, 220, 0)], vertical=False, count=10))
    other = room.copy()
    other[mask] = person[mask]

    first, second = extractor.describe_images(
        [Image.fromarray(room), Image.fromarray(other)], masks=[mask, mask]
    )

    assert np.array_equal(first, second)
    # ...while the unmasked gallery form of the same two pictures differs.
    plain = extractor.describe_images([Image.fromarray(room), Image.fromarray(other)])
    assert float(plain[0] @ plain[1]) < 0.99


def test_fill_erased_works_at_the_network_resolution():
    mask = np.zeros((3000, 4000), dtype=bool)
    mask[1000:2000, 1500:2500] = True
    wall = np.full((3000, 4000, 3), (90, 120, 150), dtype=np.uint8)
    wall[mask] = 128  # the grey the query page paints over the person
    filled = fill_erased(Image.fromarray(wall), mask, 320)
    assert filled.size == (320, 240)
    pixels = np.asarray(filled).reshape(-1, 3).astype(int)
    assert np.abs(pixels - (90, 120, 150)).max() <= 8  # the grey (38 levels off) is gone


def test_everything_erased_raises(extractor):
    image = _scene(0)
    with pytest.raises(EmptyQueryError):
        extractor.describe_images([image], masks=[np.ones((240, 320), dtype=bool)])


def test_descriptors_are_unit_float32(extractor):
    vectors = extractor.describe_images([_scene(0), _scene(1).rotate(90, expand=True)])
    assert vectors.dtype == np.float32 and vectors.shape == (2, extractor.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_model_version_names_everything_that_changes_vectors(extractor):
    version = extractor.model_version
    assert version["backbone"] == "efficientnet-lite0"
    assert len(version["weights_sha256"]) == 64
    assert version["dim"] == 1280
    assert version["key"] == extractor.version_key
    assert extractor.version_key.startswith("efficientnet-lite0:")


def test_query_rotations_include_the_upright_query():
    turning = DescriptorExtractor(DescriptorConfig(query_rotations=ROTATIONS))
    image, mask = _scene(0), _left_half_mask()
    queries = turning.describe_queries([image], masks=[mask])
    assert queries.shape == (1, 4, turning.dim)
    upright = turning.describe_images([image], masks=[mask])
    assert np.allclose(queries[0, 0], upright[0], atol=1e-5)
    assert query_similarity(queries, upright)[0, 0] == pytest.approx(1, abs=1e-5)


def test_erased_content_of_a_large_query_never_reaches_its_turned_vectors(extractor):
    """A phone-sized query is shrunk before it is turned: what was under the mask,
    even at the mask's blurred edge after resizing, must not change any turn's vector."""
    rng = np.random.default_rng(7)
    room = np.asarray(_scene(3).resize((1600, 1200), Image.NEAREST)).copy()
    other = room.copy()
    mask = np.zeros((1200, 1600), dtype=bool)
    mask[100:1100, 613:987] = True  # edges that do not fall on the 5x shrink grid
    room[mask] = rng.integers(0, 255, size=(int(mask.sum()), 3))
    other[mask] = 128
    first, second = extractor.describe_queries(
        [Image.fromarray(room), Image.fromarray(other)], masks=[mask, mask]
    )
    assert first.shape == (4, extractor.dim)
    assert np.array_equal(first, second)
