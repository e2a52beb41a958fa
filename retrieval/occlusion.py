"""Deterministic person-shaped occlusion masks for query images.

Hotels-50K queries show victims standing in front of the room; we mimic that with
a stick-figure silhouette (head ellipse, torso, arms, legs) standing on the lower
edge. The silhouette is rescaled until it covers the level's fraction of the
image (clipped by the borders, measured on the final mask):

    low ≈ 0.15, medium ≈ 0.33 (one third), high ≈ 0.50

The random position/shape is seeded by the image path, so every run and every
descriptor configuration sees the same masks. Masks are applied to queries only.
"""

import hashlib
import random

import numpy as np
from PIL import Image, ImageDraw

LEVELS = {"low": 0.15, "medium": 0.33, "high": 0.50}
GREY = (128, 128, 128)

# Silhouette in a unit box (x right, y down), width = 0.55 × height at scale 1.
_HEAD = (0.5, 0.11, 0.12, 0.11)  # centre x, centre y, radius x, radius y
_TORSO = [(0.2, 0.24), (0.8, 0.24), (0.74, 0.62), (0.26, 0.62)]
_LEFT_ARM = [(0.2, 0.24), (0.3, 0.3), (0.14, 0.62), (0.02, 0.6)]
_LEFT_LEG = [(0.27, 0.58), (0.49, 0.58), (0.46, 1.0), (0.27, 1.0)]


def _mirror(points):
    return [(1 - x, y) for x, y in points]


def _draw(size, box_height, centre_x, sink, widen):
    """Rasterise the silhouette; the feet sink `sink`×height below the bottom edge."""
    width, height = size
    box_w = 0.55 * widen * box_height
    left, top = centre_x - box_w / 2, height + sink * box_height - box_height

    def place(points):
        return [(left + x * box_w, top + y * box_height) for x, y in points]

    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    cx, cy, rx, ry = _HEAD
    draw.ellipse(place([(cx - rx, cy - ry), (cx + rx, cy + ry)]), fill=255)
    for part in (_TORSO, _LEFT_ARM, _mirror(_LEFT_ARM), _LEFT_LEG, _mirror(_LEFT_LEG)):
        draw.polygon(place(part), fill=255)
    return np.asarray(mask) > 0


def person_mask(size, level, seed):
    """Boolean (height, width) array, True = erased, covering ≈ LEVELS[level]."""
    target = LEVELS[level]
    width, height = size
    rng = random.Random(hashlib.sha256(str(seed).encode()).digest())
    centre_x = width * rng.uniform(0.3, 0.7)
    sink, widen = rng.uniform(0.0, 0.25), rng.uniform(0.9, 1.3)
    box_height = height * 0.8
    for _ in range(8):  # fixed-point on the scale: coverage grows ~ with area
        mask = _draw(size, box_height, centre_x, sink, widen)
        box_height *= (target / max(mask.mean(), 1e-3)) ** 0.5
    return mask


def occlude(image, mask):
    """Fill the erased pixels with flat grey (what an investigator's redaction looks like)."""
    pixels = np.array(image.convert("RGB"))
    pixels[mask] = GREY
    return Image.fromarray(pixels)
