"""An investigator's query: validate the photo, mask and region; read its EXIF.

Nothing here writes. `prepare_query` returns the picture the matcher will see:
upright, cropped to the region, erased pixels filled grey (the victim is never
shown to the network), and the mask that tells pooling which cells to ignore.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.core.exceptions import ValidationError
from PIL import Image, ImageOps

from retrieval.occlusion import occlude
from rooms import intake

# Pillow format -> (content type, extension). MPO: a phone JPEG with a second picture.
QUERY_FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
    "HEIF": ("image/heic", ".heic"),
}
NOTHING_LEFT = "nothing left to search after masking"

# EXIF tags (TIFF/EXIF 2.3 numbers).
MAKE, MODEL, EXIF_IFD, GPS_IFD = 0x010F, 0x0110, 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, BODY_SERIAL = 0x9003, 0x9011, 0xA431
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4


@dataclass
class PreparedQuery:
    image: Image.Image  # RGB, upright, cropped, erased pixels grey
    mask: np.ndarray | None  # (H, W) bool, True = erased; same size as `image`
    data: bytes  # the photo as uploaded (kept privately as evidence)
    sha256: str
    content_type: str
    extension: str
    exif: dict
    mask_sha256: str = ""
    mask_data: bytes = b""  # the mask PNG as uploaded (kept privately with the photo)
    region: list | None = None


def load_photo(upload, field, formats) -> tuple[bytes, Image.Image]:
    """Bytes and fully decoded image, with the traveller intake's limits and messages."""
    try:
        data = intake.read_limited(upload, field)
        image = intake.decode_upload(data, field)
    except intake.FileRejected as exc:
        raise ValidationError({field: exc.reason}) from None
    if image.format not in formats:
        accepted = " or ".join(formats)
        raise ValidationError({field: f"{image.format} is not accepted here; use {accepted}"})
    return data, image


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    value = str(value).replace("\x00", "").strip() if value is not None else ""
    return value[:120] or None


def _capture_time(exif_ifd) -> str | None:
    # Wall-clock time as the camera wrote it; a zone only when the photo states one
    # (guessing UTC would mislead a timeline).
    raw = _text(exif_ifd.get(DATETIME_ORIGINAL))
    if not raw:
        return None
    try:
        moment = datetime.strptime(raw, "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None
    offset = _text(exif_ifd.get(OFFSET_TIME_ORIGINAL)) or ""
    return moment + offset if len(offset) == 6 and offset[0] in "+-" else moment


def _degrees(dms, ref, limit) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    value = -value if _text(ref) in ("S", "W") else value
    return round(value, 6) if abs(value) <= limit else None


def extract_exif(image: Image.Image) -> dict:
    """Camera make/model, body serial, capture time and GPS position, when present.

    These tie a photo to a device, a date or a place, so they are shown to the
    analyst with the results (and only to them: the query photo stays private).
    """
    exif = image.getexif()
    exif_ifd, gps = exif.get_ifd(EXIF_IFD), exif.get_ifd(GPS_IFD)
    found = {
        "camera_make": _text(exif.get(MAKE)),
        "camera_model": _text(exif.get(MODEL)),
        "body_serial_number": _text(exif_ifd.get(BODY_SERIAL)),
        "captured_at": _capture_time(exif_ifd),
        "gps_latitude": _degrees(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), 90),
        "gps_longitude": _degrees(gps.get(GPS_LON), gps.get(GPS_LON_REF), 180),
    }
    if found["gps_latitude"] is None or found["gps_longitude"] is None:
        found["gps_latitude"] = found["gps_longitude"] = None
    return {key: value for key, value in found.items() if value is not None}


def read_mask(upload, size) -> tuple[np.ndarray, bytes]:
    """A PNG the size of the upright photo; white (or opaque white strokes) = erased."""
    data, mask = load_photo(upload, "mask", ("PNG",))
    if mask.size != size:
        raise ValidationError(
            {"mask": f"mask is {mask.width}x{mask.height} but the photo is {size[0]}x{size[1]}"}
        )
    if mask.mode in ("RGBA", "LA", "PA") or "transparency" in mask.info:
        # Transparent pixels are "not painted", whatever colour they store.
        background = Image.new("RGBA", mask.size, (0, 0, 0, 255))
        mask = Image.alpha_composite(background, mask.convert("RGBA"))
    erased = np.asarray(mask.convert("L")) > 127
    return erased, data


def parse_region(text, size) -> list[int]:
    """'x,y,w,h' in pixels of the upright photo, wholly inside it."""
    try:
        x, y, w, h = (int(part) for part in str(text).split(","))
    except ValueError:
        raise ValidationError({"region": "use four whole numbers: x,y,w,h"}) from None
    if x < 0 or y < 0 or w < 1 or h < 1 or x + w > size[0] or y + h > size[1]:
        raise ValidationError(
            {"region": f"region {x},{y},{w},{h} is not inside the {size[0]}x{size[1]} photo"}
        )
    return [x, y, w, h]


def prepare_query(image_file, mask_file=None, region=None) -> PreparedQuery:
    """Validate everything and build the matcher's input; raises ValidationError."""
    data, original = load_photo(image_file, "image", tuple(QUERY_FORMATS))
    exif = extract_exif(original)
    image = ImageOps.exif_transpose(original).convert("RGB")
    mask, mask_data = read_mask(mask_file, image.size) if mask_file else (None, b"")
    box = parse_region(region, image.size) if region else None
    if box:
        x, y, w, h = box
        image = image.crop((x, y, x + w, y + h))
        mask = mask[y : y + h, x : x + w] if mask is not None else None
    if mask is not None:
        if mask.all():
            raise ValidationError({"mask": NOTHING_LEFT})
        image = occlude(image, mask)
    return PreparedQuery(
        image=image,
        mask=mask if mask is not None and mask.any() else None,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=QUERY_FORMATS[original.format][0],
        extension=QUERY_FORMATS[original.format][1],
        exif=exif,
        mask_sha256=hashlib.sha256(mask_data).hexdigest() if mask_data else "",
        mask_data=mask_data,
        region=box,
    )
