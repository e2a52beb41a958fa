"""A drawn person standing in a generated room photo, with the person's true mask.

For the suggested erase mask: tests and `bench_suggest_mask` need photos with a person
whose pixels are known, and no real photo of a person belongs in the repository. The
figure is flat-shaded but keeps what detectors look for: a frontal face with eyes,
brows, nose and mouth, hair, a neck, shoulders, arms and legs in human proportions.
"""

import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from demo.images import photo, style_for

SKIN = [(241, 194, 167), (224, 172, 140), (198, 134, 96), (160, 102, 68), (110, 70, 46)]
HAIR = [(30, 20, 15), (60, 40, 25), (110, 75, 40), (180, 140, 80), (20, 20, 20)]

# The figure in a unit box (x right, y down; width = 0.4 × height).
_LEFT_LEG = [(-0.12, 0.52), (-0.01, 0.52), (-0.03, 1.0), (-0.11, 1.0)]
_TORSO = [(-0.13, 0.19), (0.13, 0.19), (0.12, 0.55), (-0.12, 0.55)]
_LEFT_ARM = [(-0.13, 0.19), (-0.18, 0.2), (-0.2, 0.5), (-0.15, 0.5)]


def room_with_person(seed: int, size=(1280, 960)) -> tuple[Image.Image, np.ndarray]:
    """A demo room photo with a person pasted in, and the (height, width) person mask."""
    rng = random.Random(f"person:{seed}")
    room = photo(style_for(f"decor{seed}", f"layout{seed}"), seed % 5, size)
    layer = Image.new("RGB", size)
    alpha = Image.new("L", size, 0)
    height = size[1] * rng.uniform(0.5, 0.9)
    centre_x = size[0] * rng.uniform(0.25, 0.75)
    top = rng.uniform(0.05, 1.0) * (size[1] - height)
    _draw_person(ImageDraw.Draw(layer), centre_x, top, height, _colours(rng))
    _draw_person(ImageDraw.Draw(alpha), centre_x, top, height, _colours(rng, mask=True))
    blurred = layer.filter(ImageFilter.GaussianBlur(1.0))  # a lens, not a vector drawing
    room.paste(blurred, (0, 0), alpha.filter(ImageFilter.GaussianBlur(1.0)))
    return room, np.asarray(alpha) > 127


def _colours(rng: random.Random, mask=False) -> dict:
    if mask:
        return dict.fromkeys(
            ("skin", "nose", "hair", "shirt", "trousers", "eyes", "lips", "white"), 255
        )
    skin = rng.choice(SKIN)
    return {
        "skin": skin,
        "nose": tuple(round(0.8 * c) for c in skin),
        "hair": rng.choice(HAIR),
        "shirt": tuple(rng.randrange(20, 235) for _ in range(3)),
        "trousers": tuple(rng.randrange(15, 120) for _ in range(3)),
        "eyes": (35, 25, 20),
        "lips": (165, 80, 80),
        "white": (245, 245, 240),
    }


def _draw_person(draw: ImageDraw.ImageDraw, centre_x, top, height, colours) -> None:
    def place(points):
        return [(centre_x + x * height, top + y * height) for x, y in points]

    def mirror(points):
        return [(-x, y) for x, y in points]

    for leg in (_LEFT_LEG, mirror(_LEFT_LEG)):
        draw.polygon(place(leg), fill=colours["trousers"])
    draw.polygon(place(_TORSO), fill=colours["shirt"])
    for arm in (_LEFT_ARM, mirror(_LEFT_ARM)):
        draw.polygon(place(arm), fill=colours["skin"])
    _draw_head(draw, centre_x, top, height, colours)


def _draw_head(draw, centre_x, top, height, colours) -> None:
    half_w, half_h = 0.065 * height, 0.08 * height
    centre_y = top + half_h
    skin, hair = colours["skin"], colours["hair"]
    draw.rectangle(
        [
            centre_x - 0.4 * half_w,
            centre_y + 0.7 * half_h,
            centre_x + 0.4 * half_w,
            top + 0.2 * height,
        ],
        fill=skin,
    )
    draw.ellipse(
        [
            centre_x - 1.1 * half_w,
            centre_y - 1.15 * half_h,
            centre_x + 1.1 * half_w,
            centre_y + 0.6 * half_h,
        ],
        fill=hair,
    )
    draw.ellipse(
        [centre_x - half_w, centre_y - 0.85 * half_h, centre_x + half_w, centre_y + half_h],
        fill=skin,
    )
    eye_y, eye_r = centre_y - 0.1 * half_h, 0.14 * half_w
    for side in (-1, 1):
        eye_x = centre_x + side * 0.4 * half_w
        draw.ellipse(
            [eye_x - 1.6 * eye_r, eye_y - eye_r, eye_x + 1.6 * eye_r, eye_y + eye_r],
            fill=colours["white"],
        )
        draw.ellipse(
            [eye_x - eye_r, eye_y - eye_r, eye_x + eye_r, eye_y + eye_r], fill=colours["eyes"]
        )
        brow_y = eye_y - 2.5 * eye_r
        draw.line(
            [eye_x - 2 * eye_r, brow_y, eye_x + 2 * eye_r, brow_y],
            fill=hair,
            width=max(1, round(eye_r)),
        )
    nose = [centre_x, eye_y + eye_r, centre_x - 0.6 * eye_r, centre_y + 0.35 * half_h]
    draw.line(nose, fill=colours["nose"], width=max(1, round(0.6 * eye_r)))
    mouth_y = centre_y + 0.55 * half_h
    draw.ellipse(
        [
            centre_x - 0.35 * half_w,
            mouth_y - 0.08 * half_h,
            centre_x + 0.35 * half_w,
            mouth_y + 0.08 * half_h,
        ],
        fill=colours["lips"],
    )
