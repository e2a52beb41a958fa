"""Heat maps: the cells sum to the descriptor's own cosine, erased cells are zero
(the real Lite0 on small generated photos), and the drawings have the photos' shape."""

import numpy as np
import pytest
from PIL import Image

from retrieval import heatmaps
from retrieval.descriptors import DescriptorConfig, DescriptorExtractor, query_similarity
from retrieval.explain import NotDecomposable, explain_pair
from retrieval.pooling import keep_weights
from retrieval.whitening import Whitening


@pytest.fixture(scope="module")
def extractor():
    return DescriptorExtractor()


def _room(seed, size=(320, 240)):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(pixels).resize(size, Image.BILINEAR)


def _left_half_erased(size=(320, 240)):
    mask = np.zeros((size[1], size[0]), dtype=bool)
    mask[:, : size[0] // 2] = True
    return mask


def _cosine(extractor, query, mask, gallery, whitening=None):
    """What the search scores: best turn of the query's vectors against the gallery's."""
    turns = extractor.describe_queries([query], [mask])
    vector = extractor.describe_images([gallery])
    if whitening is not None:
        turns, vector = whitening.apply(turns), whitening.apply(vector)
    return float(query_similarity(turns, vector)[0, 0])


def test_both_maps_sum_to_the_searched_cosine(extractor):
    query, gallery, mask = _room(1), _room(2), _left_half_erased()
    explanation = explain_pair(extractor, query, mask, gallery)
    expected = _cosine(extractor, query, mask, gallery)
    assert explanation.score == pytest.approx(expected, abs=1e-4)
    assert explanation.query_cells.sum() == pytest.approx(expected, abs=1e-4)
    assert explanation.gallery_cells.sum() == pytest.approx(expected, abs=1e-4)


def test_erased_cells_contribute_nothing(extractor):
    query, gallery, mask = _room(3), _room(4), _left_half_erased()
    explanation = explain_pair(extractor, query, mask, gallery)
    cells = explanation.query_cells
    _, fraction = extractor.query_turns(query, mask)[0]
    weights = keep_weights(fraction, cells.shape).numpy()
    assert (weights == 0).sum() >= cells.size // 3  # the left half is really erased
    assert np.all(cells[weights == 0] == 0)
    assert np.any(cells[weights > 0] != 0)


def test_a_learned_whitening_is_decomposed_exactly(extractor):
    rng = np.random.default_rng(0)
    whitening = Whitening(
        mean=rng.normal(0, 0.01, extractor.dim).astype(np.float32),
        projection=rng.normal(0, 1, (extractor.dim, 64)).astype(np.float32),
    )
    query, gallery, mask = _room(5), _room(6), _left_half_erased()
    explanation = explain_pair(extractor, query, mask, gallery, whitening)
    expected = _cosine(extractor, query, mask, gallery, whitening)
    assert explanation.query_cells.sum() == pytest.approx(expected, abs=1e-4)
    assert explanation.gallery_cells.sum() == pytest.approx(expected, abs=1e-4)


def test_a_turned_query_is_explained_in_its_upright_frame(extractor):
    gallery = _room(7)
    query = gallery.transpose(Image.Transpose.ROTATE_90)  # the gallery photo, sideways
    explanation = explain_pair(extractor, query, None, gallery)
    assert explanation.turn != 0  # a turn scored better than upright
    # Cells are in the query's own (portrait) frame, not the turned one.
    rows, cols = explanation.query_cells.shape
    assert rows > cols
    assert explanation.query_cells.sum() == pytest.approx(explanation.score, abs=1e-4)


def test_a_non_linear_pooling_is_refused():
    extractor = DescriptorExtractor(DescriptorConfig(p=3.0))
    with pytest.raises(NotDecomposable):
        explain_pair(extractor, _room(1), None, _room(2))


def test_drawings_keep_each_photos_shape():
    cells = np.zeros((8, 10))
    cells[2, 3] = 1.0
    layer = heatmaps.overlay(cells, (400, 300))
    assert layer.mode == "RGBA" and layer.size == (400, 300)
    alpha = np.asarray(layer)[..., 3]
    assert alpha.max() > 100 and alpha[-1, -1] == 0  # hot where the cell is, clear elsewhere
    pair = heatmaps.correspondences(
        _room(1, (400, 300)), _room(2, (300, 300)), np.array([[0.5, 0.5, 0.5, 0.5]])
    )
    assert pair.size == (
        400 * heatmaps.PAIR_HEIGHT // 300 + heatmaps.GAP + heatmaps.PAIR_HEIGHT,
        heatmaps.PAIR_HEIGHT,
    )
