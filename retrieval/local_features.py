"""Local features (SIFT keypoints) for geometric re-ranking of the global top-K.

A gallery image is described once by up to ``nfeatures`` SIFT keypoints on the
grey image downscaled to ``max_side``; a query the same way, with the keypoints
that fall on (or whose descriptor window reaches into) the erased person dropped,
so the redaction can neither match nor steal matches. Stored form: keypoint xy
(float16, pixels of the downscaled image) + raw SIFT descriptors (uint8, what
OpenCV computes anyway); RootSIFT is derived at match time, so nothing is lost by
storing bytes. ``to_bytes`` / ``from_bytes`` give a compact blob for a BinaryField
or a file (≈ 132 bytes per keypoint plus a small header).

OpenCV is imported lazily so Django apps stay light.
"""

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"TCLF"
_HEADER = struct.Struct("<4sHHI")  # magic, format, descriptor bytes, keypoint count
FORMAT = 1
DESCRIPTOR_BYTES = 128


class LocalFeaturesError(ValueError):
    """A blob is not a local-features blob of this format."""


@dataclass(frozen=True)
class LocalConfig:
    max_side: int = 512  # downscale only: long side of the image SIFT sees
    nfeatures: int = 1000  # strongest kept per image (matching cost ~ n²; 500: see benchmarks)
    # A SIFT descriptor covers about `size` pixels around the keypoint: drop query
    # keypoints closer than this × size to an erased pixel (the grey edge is texture too).
    mask_margin: float = 0.5

    @property
    def version(self):
        """Store with every blob; features of different versions must not be compared."""
        return f"sift-u8:{self.max_side}:n{self.nfeatures}:f{FORMAT}"


@dataclass(frozen=True)
class LocalFeatures:
    xy: np.ndarray  # (N, 2) float32, pixels of the downscaled image
    descriptors: np.ndarray  # (N, 128) uint8, raw SIFT

    def __len__(self):
        return len(self.xy)

    def to_bytes(self):
        xy = np.ascontiguousarray(self.xy, dtype="<f2")
        desc = np.ascontiguousarray(self.descriptors, dtype=np.uint8)
        header = _HEADER.pack(MAGIC, FORMAT, DESCRIPTOR_BYTES, len(xy))
        return header + xy.tobytes() + desc.tobytes()

    @classmethod
    def from_bytes(cls, blob):
        blob = bytes(blob)
        if len(blob) < _HEADER.size:
            raise LocalFeaturesError("blob too short for a local-features header")
        magic, fmt, dim, n = _HEADER.unpack_from(blob)
        if magic != MAGIC or fmt != FORMAT or dim != DESCRIPTOR_BYTES:
            raise LocalFeaturesError(f"not a local-features blob of format {FORMAT}")
        expected = _HEADER.size + n * (4 + DESCRIPTOR_BYTES)
        if len(blob) != expected:
            raise LocalFeaturesError(f"blob has {len(blob)} bytes, {n} keypoints need {expected}")
        xy_end = _HEADER.size + 4 * n
        xy = np.frombuffer(blob, dtype="<f2", count=2 * n, offset=_HEADER.size)
        desc = np.frombuffer(blob, dtype=np.uint8, count=DESCRIPTOR_BYTES * n, offset=xy_end)
        return cls(xy.reshape(n, 2).astype(np.float32), desc.reshape(n, DESCRIPTOR_BYTES).copy())


def extract(image, mask=None, config=LocalConfig()):
    """SIFT keypoints of a PIL image; `mask` (H, W) at image resolution, True = erased.

    Returns at most ``config.nfeatures`` keypoints, strongest first. An image
    with no texture (or fully erased) gives an empty LocalFeatures, not an error.
    """
    import cv2

    grey = np.asarray(image.convert("L"))
    height, width = grey.shape
    scale = min(1.0, config.max_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1.0:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    distance = None if mask is None else _distance_to_mask(mask, size)
    # The detector's budget goes to the visible room: erased pixels are not searched.
    detect_mask = None if distance is None else (distance > 1).astype(np.uint8) * 255
    sift = cv2.SIFT_create(nfeatures=config.nfeatures)
    keypoints, descriptors = sift.detectAndCompute(grey, detect_mask)
    if not keypoints:
        return _empty()
    xy = np.array([kp.pt for kp in keypoints], dtype=np.float32)
    keep = np.ones(len(xy), dtype=bool)
    if distance is not None:
        # ...and a keypoint whose descriptor window reaches into the grey fill is dropped too.
        sizes = np.array([kp.size for kp in keypoints], dtype=np.float32)
        cols = np.clip(np.rint(xy[:, 0]).astype(int), 0, size[0] - 1)
        rows = np.clip(np.rint(xy[:, 1]).astype(int), 0, size[1] - 1)
        keep = distance[rows, cols] > config.mask_margin * sizes + 1
    # OpenCV's SIFT descriptors are already integers in 0..255.
    desc = np.clip(np.rint(descriptors[keep]), 0, 255).astype(np.uint8)
    return LocalFeatures(xy[keep], desc)


def _distance_to_mask(mask, size):
    """(h, w) float32: distance in pixels from each pixel to the nearest erased one."""
    import cv2

    erased = cv2.resize(np.asarray(mask, dtype=np.uint8), size, interpolation=cv2.INTER_NEAREST)
    if not erased.any():
        return np.full((size[1], size[0]), np.inf, dtype=np.float32)
    return cv2.distanceTransform((erased == 0).astype(np.uint8), cv2.DIST_L2, 3)


def _empty():
    return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8))
