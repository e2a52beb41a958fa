"""ONNX Runtime (the default) and PyTorch must give the same descriptors."""

import numpy as np
import pytest
import torch

from retrieval.backbones import load_backbone


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


def test_onnx_trunk_matches_pytorch(backbone, tmp_path):
    assert backbone._session is not None, "the default runtime is ONNX"
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.standard_normal((2, 3, 240, 320)).astype(np.float32))
    onnx_map = backbone.feature_map(batch)
    session, backbone._session = backbone._session, None
    try:
        torch_map = backbone.feature_map(batch)
    finally:
        backbone._session = session
    assert onnx_map.shape == torch_map.shape == (2, 1280, 7, 10)
    a, b = onnx_map.mean((2, 3)), torch_map.mean((2, 3))
    cosine = torch.nn.functional.cosine_similarity(a, b)
    assert cosine.min() > 0.9999


def test_export_is_cached_and_reused(backbone, tmp_path):
    backbone.use_onnx(tmp_path)
    (exported,) = tmp_path.glob("efficientnet-lite0-*.onnx")
    mtime = exported.stat().st_mtime_ns
    backbone.use_onnx(tmp_path)
    assert exported.stat().st_mtime_ns == mtime
    image = torch.zeros(1, 3, 64, 96)
    assert backbone.feature_map(image).shape == (1, 1280, 2, 3)


@pytest.mark.parametrize("name", ["efficientnet-lite1", "efficientnet-lite2"])
def test_the_larger_lite_backbones_load_from_their_wheels(name):
    backbone = load_backbone(name)
    assert backbone.name == name and backbone.out_channels == 1280
    assert backbone.feature_map(torch.zeros(1, 3, 64, 96)).shape == (1, 1280, 2, 3)


def test_an_unknown_backbone_says_which_exist():
    from retrieval.backbones import BackboneUnavailable

    with pytest.raises(BackboneUnavailable, match="efficientnet-lite2"):
        load_backbone("efficientnet-lite9")
