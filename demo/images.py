"""Procedural hotel-room photos for demo data and tests.

A room's decor (colours, wallpaper, carpet, headboard) comes from a "decor key",
so hotels of one chain can share it, and its layout (bed position, window side,
art) from a "layout key", so each hotel still differs. One room is drawn once on a
large canvas; each "photo" is a different crop and zoom of it, like a traveller
stepping to another spot, so photos of the same room look alike.
"""

import colorsys
import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

CANVAS = (1200, 900)
HORIZON = 560  # where the back wall meets the floor
SIDE_INSET = 170  # the side walls' depth, in pixels at the floor line


@dataclass(frozen=True)
class RoomStyle:
    wall: tuple
    wall_accent: tuple
    wallpaper: str  # "stripes", "dots" or "plain"
    carpet: tuple
    carpet_accent: tuple
    carpet_pattern: str  # "checks", "lines" or "diamonds"
    headboard: tuple
    headboard_shape: str  # "rect", "arch" or "panels"
    bedspread: tuple
    runner: tuple
    lamp_shade: tuple
    wood: tuple
    bed_x: int  # centre of the bed
    window_left: bool
    art_colours: tuple
    art_kind: str  # "circles", "bands" or "blocks"


def _colour(rng, hue=None, sat=(0.2, 0.6), val=(0.35, 0.9)):
    h = rng.random() if hue is None else hue % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return (int(r * 255), int(g * 255), int(b * 255))


def style_for(decor_key: str, layout_key: str) -> RoomStyle:
    """A deterministic room style: decor from `decor_key`, layout from `layout_key`."""
    decor = random.Random(f"decor:{decor_key}")
    layout = random.Random(f"layout:{layout_key}")
    wall_hue = decor.random()
    return RoomStyle(
        wall=_colour(decor, wall_hue, sat=(0.1, 0.45), val=(0.7, 0.95)),
        wall_accent=_colour(decor, wall_hue + 0.05, sat=(0.2, 0.5), val=(0.5, 0.8)),
        wallpaper=decor.choice(["stripes", "dots", "plain"]),
        carpet=_colour(decor, sat=(0.3, 0.7), val=(0.25, 0.6)),
        carpet_accent=_colour(decor, sat=(0.3, 0.8), val=(0.4, 0.8)),
        carpet_pattern=decor.choice(["checks", "lines", "diamonds"]),
        headboard=_colour(decor, sat=(0.2, 0.7), val=(0.15, 0.6)),
        headboard_shape=decor.choice(["rect", "arch", "panels"]),
        bedspread=_colour(decor, sat=(0.0, 0.15), val=(0.85, 1.0)),
        runner=_colour(decor, sat=(0.5, 0.9), val=(0.3, 0.7)),
        lamp_shade=_colour(decor, sat=(0.1, 0.4), val=(0.8, 1.0)),
        wood=_colour(decor, hue=decor.uniform(0.05, 0.11), sat=(0.4, 0.7), val=(0.2, 0.55)),
        bed_x=layout.randint(460, 740),
        window_left=layout.random() < 0.5,
        art_colours=tuple(_colour(layout, sat=(0.5, 1.0), val=(0.4, 1.0)) for _ in range(4)),
        art_kind=layout.choice(["circles", "bands", "blocks"]),
    )


def render_room(style: RoomStyle) -> Image.Image:
    """The whole room, drawn once on a large canvas."""
    image = Image.new("RGB", CANVAS, style.wall)
    draw = ImageDraw.Draw(image)
    _draw_wallpaper(draw, style)
    _draw_floor(draw, style)
    _draw_side_walls(draw, style)
    _draw_window(draw, style)
    _draw_art(draw, style)
    _draw_bed(draw, style)
    for side in (-1, 1):
        _draw_nightstand_and_lamp(draw, style, side)
    return image


def photo(style: RoomStyle, view: int, size=(640, 480), room: Image.Image | None = None):
    """Photo number `view` of the room: a crop from a slightly different spot and zoom."""
    room = render_room(style) if room is None else room
    rng = random.Random(f"view:{style}:{view}")
    scale = rng.uniform(0.62, 0.85)
    crop_w, crop_h = int(CANVAS[0] * scale), int(CANVAS[1] * scale)
    # Keep the bed in frame, as travellers are asked to photograph it.
    centre_x = style.bed_x + rng.randint(-120, 120)
    left = min(max(0, centre_x - crop_w // 2), CANVAS[0] - crop_w)
    top = rng.randint(int((CANVAS[1] - crop_h) * 0.3), CANVAS[1] - crop_h)
    shot = room.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.BICUBIC)
    shot = ImageEnhance.Brightness(shot).enhance(rng.uniform(0.88, 1.12))
    return _add_sensor_noise(shot, rng.randrange(2**32))


def photo_jpeg(style: RoomStyle, view: int, size=(640, 480), room=None) -> bytes:
    buffer = io.BytesIO()
    photo(style, view, size, room).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def _add_sensor_noise(image, seed):
    pixels = np.asarray(image, dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0, 4, pixels.shape).astype(np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def _draw_wallpaper(draw, style):
    if style.wallpaper == "stripes":
        for x in range(0, CANVAS[0], 48):
            draw.rectangle((x, 0, x + 12, HORIZON), fill=style.wall_accent)
    elif style.wallpaper == "dots":
        for y in range(20, HORIZON, 40):
            for x in range(20 + (y // 40 % 2) * 20, CANVAS[0], 40):
                draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=style.wall_accent)
    # Skirting board.
    draw.rectangle((0, HORIZON - 14, CANVAS[0], HORIZON), fill=style.wood)


def _draw_floor(draw, style):
    w, h = CANVAS
    draw.rectangle((0, HORIZON, w, h), fill=style.carpet)
    if style.carpet_pattern == "lines":
        for x in range(-w, 2 * w, 60):  # lines converging towards the back wall
            draw.line((w / 2 + (x - w / 2) * 0.4, HORIZON, x, h), fill=style.carpet_accent, width=4)
    elif style.carpet_pattern == "checks":
        for i, y in enumerate(range(HORIZON, h, 45)):
            for x in range((i % 2) * 60, w, 120):
                draw.rectangle((x, y, x + 60, y + 22), fill=style.carpet_accent)
    else:
        for y in range(HORIZON + 30, h, 70):
            for x in range(0, w, 90):
                draw.polygon(
                    [(x, y), (x + 20, y - 15), (x + 40, y), (x + 20, y + 15)],
                    fill=style.carpet_accent,
                )


def _draw_side_walls(draw, style):
    w, h = CANVAS
    shade = tuple(int(c * 0.78) for c in style.wall)
    draw.polygon([(0, 0), (SIDE_INSET, 60), (SIDE_INSET, HORIZON), (0, h)], fill=shade)
    draw.polygon([(w, 0), (w - SIDE_INSET, 60), (w - SIDE_INSET, HORIZON), (w, h)], fill=shade)
    draw.line((0, 60, w, 60), fill=tuple(int(c * 0.9) for c in style.wall), width=6)


def _draw_window(draw, style):
    x0 = SIDE_INSET + 30 if style.window_left else CANVAS[0] - SIDE_INSET - 250
    box = (x0, 120, x0 + 220, 400)
    draw.rectangle(box, fill=(170, 205, 235), outline=(245, 245, 245), width=10)
    draw.line((x0 + 110, 120, x0 + 110, 400), fill=(245, 245, 245), width=8)
    curtain = tuple(int(c * 0.8) for c in style.runner)
    draw.rectangle((x0 - 40, 100, x0 + 10, 430), fill=curtain)
    draw.rectangle((x0 + 210, 100, x0 + 260, 430), fill=curtain)


def _draw_art(draw, style):
    cx = style.bed_x
    frame = (cx - 130, 110, cx + 130, 270)
    draw.rectangle(frame, fill=style.wood)
    inner = (frame[0] + 12, frame[1] + 12, frame[2] - 12, frame[3] - 12)
    draw.rectangle(inner, fill=(240, 236, 228))
    a, b, c, d = style.art_colours
    x0, y0, x1, y1 = inner
    if style.art_kind == "circles":
        draw.ellipse((x0 + 20, y0 + 15, x0 + 120, y0 + 115), fill=a)
        draw.ellipse((x0 + 100, y0 + 30, x0 + 190, y0 + 120), fill=b)
        draw.ellipse((x1 - 60, y0 + 10, x1 - 10, y0 + 60), fill=c)
    elif style.art_kind == "bands":
        for i, colour in enumerate((a, b, c, d)):
            draw.rectangle((x0, y0 + i * 34, x1, y0 + i * 34 + 22), fill=colour)
    else:
        draw.rectangle((x0 + 10, y0 + 10, x0 + 110, y1 - 10), fill=a)
        draw.rectangle((x0 + 120, y0 + 10, x1 - 10, y0 + 60), fill=b)
        draw.rectangle((x0 + 120, y0 + 70, x1 - 60, y1 - 10), fill=c)
        draw.rectangle((x1 - 50, y0 + 70, x1 - 10, y1 - 10), fill=d)


def _draw_bed(draw, style):
    cx = style.bed_x
    if style.headboard_shape == "arch":
        draw.rectangle((cx - 200, 340, cx + 200, HORIZON), fill=style.headboard)
        draw.pieslice((cx - 200, 280, cx + 200, 400), 180, 360, fill=style.headboard)
    elif style.headboard_shape == "panels":
        for i in range(4):
            x = cx - 200 + i * 100
            draw.rectangle((x + 4, 300, x + 96, HORIZON), fill=style.headboard)
    else:
        draw.rectangle((cx - 200, 310, cx + 200, HORIZON), fill=style.headboard)
    # The mattress in perspective: narrow at the headboard, wide at the foot.
    top, foot = 450, 780
    draw.polygon(
        [(cx - 185, top), (cx + 185, top), (cx + 260, foot), (cx - 260, foot)],
        fill=style.bedspread,
    )
    draw.rectangle((cx - 260, foot, cx + 260, foot + 50), fill=style.wood)
    draw.polygon(
        [(cx - 225, 650), (cx + 225, 650), (cx + 245, 720), (cx - 245, 720)], fill=style.runner
    )
    for px in (cx - 165, cx + 15):
        draw.rounded_rectangle((px, 420, px + 150, 485), radius=22, fill=(250, 250, 250))


def _draw_nightstand_and_lamp(draw, style, side):
    x = style.bed_x + side * 290
    draw.rectangle((x - 60, 440, x + 60, 600), fill=style.wood)
    draw.line((x - 50, 520, x + 50, 520), fill=tuple(int(c * 0.7) for c in style.wood), width=4)
    draw.rectangle((x - 8, 360, x + 8, 440), fill=(60, 60, 60))
    shade = [(x - 30, 300), (x + 30, 300), (x + 55, 365), (x - 55, 365)]
    draw.polygon(shade, fill=style.lamp_shade)
