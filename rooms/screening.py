"""Screening of public uploads against the gallery and the operator's abuse list.

- `duplicate_elsewhere`: the same view (an exact or near perceptual hash) already filed
  under another hotel. Labelling known photos with wrong hotels would poison the
  gallery, so such a photo waits for a moderator, who sees both hotels.
- `blocklist_match`: the photo matches a perceptual hash of known abuse material
  (UPLOAD_BLOCKLIST_FILE, supplied by the operator: one 16-hex-digit pHash, as
  `imagehash.phash` computes it, per line; `#` starts a comment). The upload is refused
  and recorded for reporting (`services.submission_create`).

Explicit content is detected in `rooms.intake.detect_explicit` (pure, on the pixels).
"""

import logging
import os
from dataclasses import dataclass
from functools import cache

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count, Q

from rooms.models import PhashBand, RoomImage

logger = logging.getLogger(__name__)

# Perceptual hashes this close (out of 64 bits) are the same view, re-shot or re-encoded.
NEAR_DUPLICATE_MAX_DISTANCE = 6
# At most 6 bits apart means at least 8 - 6 = 2 of the 8 bytes are equal.
SHARED_BANDS = 8 - NEAR_DUPLICATE_MAX_DISTANCE
DEFAULT_BLOCKLIST_MAX_DISTANCE = 8


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex perceptual hashes."""
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:  # a missing hash is never a near duplicate
        return 64


@dataclass(frozen=True)
class Duplicate:
    image_id: int
    hotel_id: int
    hotel_name: str
    distance: int


def duplicate_elsewhere(phash: str, hotel_id: int) -> Duplicate | None:
    """The closest photo of another hotel within NEAR_DUPLICATE_MAX_DISTANCE, if any.

    Reads only the photos sharing two bytes of the hash (indexed `PhashBand` rows), so
    the cost does not grow with the gallery.
    """
    bands = PhashBand.bands_of(phash)
    if not bands:
        return None
    same_byte = Q()
    for band, value in bands:
        same_byte |= Q(band=band, value=value)
    candidates = (
        PhashBand.objects.filter(same_byte)
        .values("image_id")
        .annotate(shared=Count("id"))
        .filter(shared__gte=SHARED_BANDS)
        .values("image_id")
    )
    rows = (
        RoomImage.objects.filter(id__in=candidates)
        .exclude(submission__hotel_id=hotel_id)
        .values_list("id", "phash", "submission__hotel_id", "submission__hotel__name")
    )
    best = None
    for image_id, other, other_hotel, name in rows:
        distance = phash_distance(phash, other)
        if distance <= NEAR_DUPLICATE_MAX_DISTANCE and (best is None or distance < best.distance):
            best = Duplicate(image_id, other_hotel, name, distance)
    return best


# --- the operator's list of known abuse material ------------------------------------


@dataclass(frozen=True)
class BlocklistMatch:
    matched_hash: str
    distance: int


def blocklist_match(phash: str) -> BlocklistMatch | None:
    """The closest listed hash within UPLOAD_BLOCKLIST_MAX_DISTANCE; None without a list."""
    path = getattr(settings, "UPLOAD_BLOCKLIST_FILE", "")
    if not path:
        return None
    hashes = _load_blocklist(str(path), _modified(str(path)))
    if not hashes.size:
        return None
    try:
        value = np.uint64(int(phash, 16))
    except ValueError:
        return None
    distances = np.bitwise_count(hashes ^ value)
    best = int(distances.argmin())
    limit = getattr(settings, "UPLOAD_BLOCKLIST_MAX_DISTANCE", DEFAULT_BLOCKLIST_MAX_DISTANCE)
    if int(distances[best]) > limit:
        return None
    return BlocklistMatch(f"{int(hashes[best]):016x}", int(distances[best]))


def check_blocklist_file() -> str | None:
    """Why the configured list cannot be used, or None (for the system check)."""
    path = getattr(settings, "UPLOAD_BLOCKLIST_FILE", "")
    if not path:
        return None
    try:
        _load_blocklist(str(path), _modified(str(path)))
    except ImproperlyConfigured as exc:
        return str(exc)
    return None


def _modified(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError as exc:
        raise ImproperlyConfigured(f"UPLOAD_BLOCKLIST_FILE {path} cannot be read: {exc}") from exc


@cache  # per (path, modification time): an edited list is read again
def _load_blocklist(path: str, modified: float) -> np.ndarray:
    values = []
    try:
        with open(path, encoding="ascii") as lines:
            for number, line in enumerate(lines, 1):
                entry = line.split("#", 1)[0].strip()
                if not entry:
                    continue
                if len(entry) != 16:
                    raise ValueError(f"line {number}: {entry[:40]!r} is not 16 hex digits")
                values.append(int(entry, 16))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ImproperlyConfigured(f"UPLOAD_BLOCKLIST_FILE {path}: {exc}") from exc
    logger.info("abuse hash list %s: %d hashes", path, len(values))
    return np.array(values, dtype=np.uint64)
