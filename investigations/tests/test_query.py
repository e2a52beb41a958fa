"""Query intake: photo, mask and region validation, grey fill, EXIF (no model, no DB)."""

import io

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from investigations.query import NOTHING_LEFT, extract_exif, parse_region, prepare_query
from investigations.tests.conftest import png_bytes


def upload(data, name="photo.jpg"):
    return SimpleUploadedFile(name, data)


def photo_with_exif(size=(80, 60), orientation=None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    if orientation:
        exif[0x0112] = orientation
    details = exif.get_ifd(0x8769)
    details[0x9003] = "2024:05:06 07:08:09"
    details[0x9011] = "-05:00"
    details[0xA431] = "SN-00042"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (45.0, 30.0, 36.0)
    gps[3], gps[4] = "W", (122.0, 40.0, 48.0)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def errors(exc_info):
    return exc_info.value.message_dict


def test_exif_is_extracted():
    image = Image.open(io.BytesIO(photo_with_exif()))
    assert extract_exif(image) == {
        "camera_make": "Canon",
        "camera_model": "EOS 5D",
        "body_serial_number": "SN-00042",
        "captured_at": "2024-05-06T07:08:09-05:00",
        "gps_latitude": 45.51,
        "gps_longitude": -122.68,
    }


def test_photo_without_exif_gives_empty_dict(image_bytes):
    assert prepare_query(upload(image_bytes())).exif == {}


def test_mask_must_match_the_upright_size():
    # Orientation 6: stored 80x60, shown 60x80. A mask drawn on what the analyst sees fits.
    data = photo_with_exif(orientation=6)
    upright = np.zeros((80, 60), dtype=bool)
    upright[:40] = True
    prepared = prepare_query(upload(data), upload(png_bytes(upright), "mask.png"))
    assert prepared.image.size == (60, 80)
    with pytest.raises(ValidationError) as exc_info:
        prepare_query(upload(data), upload(png_bytes(upright.T), "mask.png"))
    assert "60x80" in errors(exc_info)["mask"][0]


def test_erased_pixels_are_grey_and_the_rest_untouched(image_bytes):
    data = image_bytes(size=(64, 48), color=(10, 200, 30), quality=100)
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:30, 20:40] = True
    prepared = prepare_query(upload(data), upload(png_bytes(mask), "mask.png"))
    pixels = np.asarray(prepared.image)
    assert (pixels[mask] == 128).all()
    assert abs(int(pixels[0, 63, 1]) - 200) < 10
    assert prepared.mask is not None and prepared.mask.sum() == mask.sum()
    assert len(prepared.mask_sha256) == 64


def test_transparent_strokes_mask_only_where_painted(image_bytes):
    strokes = Image.new("RGBA", (64, 48), (255, 255, 255, 0))  # white but transparent
    strokes.paste((255, 255, 255, 255), (0, 0, 16, 48))
    prepared = prepare_query(upload(image_bytes()), upload(png_bytes(strokes), "mask.png"))
    assert prepared.mask[:, :16].all() and not prepared.mask[:, 16:].any()


def test_region_crops_image_and_mask(image_bytes):
    mask = np.zeros((48, 64), dtype=bool)
    mask[:, :8] = True
    prepared = prepare_query(
        upload(image_bytes()), upload(png_bytes(mask), "mask.png"), region="4,2,30,20"
    )
    assert prepared.image.size == (30, 20)
    assert prepared.mask.shape == (20, 30)
    assert prepared.mask[:, :4].all() and not prepared.mask[:, 4:].any()
    assert prepared.region == [4, 2, 30, 20]


@pytest.mark.parametrize(
    "text", ["1,2,3", "a,b,c,d", "0,0,65,10", "-1,0,5,5", "0,0,0,5", "60,40,5,9"]
)
def test_bad_regions_are_refused(text):
    with pytest.raises(ValidationError) as exc_info:
        parse_region(text, (64, 48))
    assert "region" in errors(exc_info)


def test_fully_erased_region_leaves_nothing(image_bytes):
    mask = np.zeros((48, 64), dtype=bool)
    mask[:24, :32] = True
    with pytest.raises(ValidationError) as exc_info:
        prepare_query(upload(image_bytes()), upload(png_bytes(mask), "m.png"), region="0,0,32,24")
    assert errors(exc_info) == {"mask": [NOTHING_LEFT]}


def test_non_image_is_refused():
    with pytest.raises(ValidationError) as exc_info:
        prepare_query(upload(b"%PDF-1.4 not a photo", "case.pdf"))
    assert "image" in errors(exc_info)


def test_mask_must_be_png(image_bytes):
    with pytest.raises(ValidationError) as exc_info:
        prepare_query(upload(image_bytes()), upload(image_bytes(fmt="JPEG"), "mask.jpg"))
    assert "PNG" in errors(exc_info)["mask"][0]


@pytest.mark.parametrize(
    "fmt, content_type", [("PNG", "image/png"), ("WEBP", "image/webp"), ("HEIF", "image/heic")]
)
def test_formats_are_accepted(image_bytes, fmt, content_type):
    prepared = prepare_query(upload(image_bytes(fmt=fmt)))
    assert prepared.content_type == content_type
    assert prepared.image.mode == "RGB"


def test_too_large_file_is_refused(image_bytes, settings):
    settings.UPLOAD_MAX_BYTES = 1024
    with pytest.raises(ValidationError) as exc_info:
        prepare_query(upload(image_bytes(size=(400, 400), quality=100)))
    assert "larger" in errors(exc_info)["image"][0]
