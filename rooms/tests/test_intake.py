"""rooms.intake: what is accepted, what is refused and what the stored copy looks like."""

import hashlib
import io
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from conftest import make_image_bytes
from demo import images as demo_images
from rooms import intake

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def exif_jpeg(size=(64, 48), orientation=6, offset=None) -> bytes:
    """A JPEG with GPS, camera, capture time and an orientation tag."""
    exif = Image.Exif()
    exif[0x0110] = "Pixel 9"
    exif[ORIENTATION] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 10:20:30"
    if offset:
        exif.get_ifd(0x8769)[0x9011] = offset
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (45.0, 31.0, 12.0), "W", (122.0, 40.0, 0.0)
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "JPEG", exif=exif, comment=b"secret")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims the given size (its pixel data is a stub)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def refusal(data: bytes, name="photo.jpg") -> intake.FileRejected:
    with pytest.raises(intake.FileRejected) as caught:
        intake.process_upload(upload(data, name))
    assert caught.value.file == name
    return caught.value


def reopen(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_accepted_formats_become_plain_jpeg(fmt):
    result = intake.process_upload(upload(make_image_bytes(fmt, size=(80, 60)), "x.bin"))
    stored = reopen(result.content)
    assert stored.format == "JPEG" and stored.mode == "RGB"
    assert (result.width, result.height) == stored.size == (80, 60)
    assert len(result.sha256) == 64 and len(result.phash) == 16
    assert result.flagged_reason == ""


def test_multi_picture_jpeg_from_phones_is_accepted():
    buffer = io.BytesIO()
    second = Image.new("RGB", (32, 24), "blue")
    Image.new("RGB", (64, 48), "red").save(buffer, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    result = intake.process_upload(upload(buffer.getvalue()))
    assert (result.width, result.height) == (64, 48)


def test_sha256_is_of_the_uploaded_bytes():
    data = make_image_bytes("PNG")
    assert intake.process_upload(upload(data)).sha256 == hashlib.sha256(data).hexdigest()


def test_stored_copy_has_no_metadata_and_is_upright():
    result = intake.process_upload(upload(exif_jpeg(size=(64, 48), orientation=6)))
    stored = reopen(result.content)
    assert stored.size == (48, 64)  # rotate-90 applied, not left to the viewer
    assert len(stored.getexif()) == 0
    assert not set(stored.info) & {"exif", "xmp", "icc_profile", "comment"}
    assert b"Exif" not in result.content and b"secret" not in result.content


def test_private_metadata_is_kept():
    result = intake.process_upload(upload(exif_jpeg()))
    assert result.camera_model == "Pixel 9"
    assert result.captured_at == datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)


def test_capture_time_uses_the_offset_tag():
    result = intake.process_upload(upload(exif_jpeg(offset="-07:00")))
    zone = timezone(-timedelta(hours=7))
    assert result.captured_at == datetime(2024, 5, 1, 10, 20, 30, tzinfo=zone)


def test_no_exif_means_no_private_metadata():
    result = intake.process_upload(upload(make_image_bytes("PNG")))
    assert result.captured_at is None and result.camera_model == ""


def test_large_photo_is_downscaled_to_bounded_size():
    result = intake.process_upload(upload(make_image_bytes("JPEG", size=(3000, 1500))))
    assert (result.width, result.height) == (2048, 1024)
    assert reopen(result.content).size == (2048, 1024)


def test_transparent_png_gets_a_white_background():
    buffer = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(buffer, "PNG")
    stored = reopen(intake.process_upload(upload(buffer.getvalue())).content)
    assert min(stored.getpixel((10, 10))) > 240


def test_gif_is_refused_by_name():
    rejection = refusal(make_image_bytes("GIF"), "x.gif")
    assert rejection.reason == "unsupported format GIF; use JPEG, PNG, WebP or HEIC"
    assert not rejection.too_large


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
        b"<html><body><script>alert(1)</script></body></html>",
        b"just some text, not an image",
    ],
)
def test_non_images_disguised_as_jpeg_are_refused(data):
    rejection = refusal(data, "holiday.jpg")
    assert rejection.reason == "not a recognised image; use JPEG, PNG, WebP or HEIC"


def test_truncated_jpeg_is_refused():
    data = make_image_bytes("JPEG", size=(256, 256))
    rejection = refusal(data[: len(data) * 2 // 3])
    assert rejection.reason == "image is truncated or corrupt"


def test_empty_file_is_refused():
    assert refusal(b"").reason == "file is empty"


def test_oversize_file_is_refused_as_too_large(settings):
    settings.UPLOAD_MAX_BYTES = 2000
    rejection = refusal(make_image_bytes("PNG", size=(300, 300)) + b"\0" * 3000)
    assert rejection.too_large
    assert rejection.reason == "file is larger than the 2000 byte upload limit"


def test_pixel_limit_is_checked_from_the_header(settings):
    settings.UPLOAD_MAX_PIXELS = 1000
    rejection = refusal(make_image_bytes("PNG", size=(64, 48)), "big.png")
    assert rejection.reason == "image dimensions exceed the 0.001 megapixel limit"
    assert not rejection.too_large


def test_png_declaring_huge_dimensions_is_refused_before_decoding():
    # 100000 x 100000: Pillow's own bomb guard fires while opening; both paths refuse.
    rejection = refusal(png_declaring(100_000, 100_000), "bomb.png")
    assert "megapixel limit" in rejection.reason


def test_png_declaring_dimensions_over_our_limit_is_refused(settings):
    settings.UPLOAD_MAX_PIXELS = 10_000
    rejection = refusal(png_declaring(5000, 5000), "bomb.png")
    assert "megapixel limit" in rejection.reason


def test_process_uploads_names_every_refused_file(settings):
    settings.UPLOAD_MAX_BYTES = 2000
    files = [
        upload(make_image_bytes("JPEG"), "ok.jpg"),
        upload(make_image_bytes("GIF"), "anim.gif"),
        upload(b"\0" * 3000, "huge.jpg"),
    ]
    with pytest.raises(intake.UploadRejected) as caught:
        intake.process_uploads(files)
    body = caught.value.as_json()
    assert [e["file"] for e in body["errors"]] == ["anim.gif", "huge.jpg"]
    assert caught.value.status_code == 413
    assert body["detail"] == "No photos were stored: 2 files were refused."


def test_near_identical_uploads_share_a_perceptual_hash():
    room = demo_images.photo(demo_images.style_for("a", "a"), 0, size=(640, 480))
    first, second = io.BytesIO(), io.BytesIO()
    room.save(first, "JPEG", quality=95)
    room.resize((500, 375)).save(second, "PNG")
    a = intake.process_upload(upload(first.getvalue()))
    b = intake.process_upload(upload(second.getvalue()))
    assert a.sha256 != b.sha256
    assert (int(a.phash, 16) ^ int(b.phash, 16)).bit_count() <= 6


def test_person_detector_ignores_empty_rooms():
    for key in ("a", "b", "c"):
        style = demo_images.style_for(key, key)
        for view in range(2):
            room = demo_images.photo(style, view, size=(1024, 768)).convert("RGB")
            assert intake.detect_person(room) == ""


def test_detector_verdict_is_the_flag_reason(monkeypatch):
    monkeypatch.setattr(intake, "detect_person", lambda image: "face detected")
    assert intake.process_upload(upload(make_image_bytes())).flagged_reason == "face detected"
