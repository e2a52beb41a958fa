"""The production extractor, built from the settings."""

import numpy as np
from PIL import Image


def test_descriptor_of_a_photo_is_unit_length(tmp_path):
    from matcher.embedding import get_extractor

    photo = Image.new("RGB", (400, 300), (200, 150, 100))
    vector = get_extractor().describe_images([photo])[0]
    assert vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-5
