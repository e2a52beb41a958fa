"""Delete photo files that no RoomImage row refers to.

An upload writes its files, then commits their rows (rooms/services.py). A failure
in between deletes the files, but a process killed there (SIGKILL, OOM, lost machine)
cannot: its files stay with no row. This sweep removes them once they are older than
any upload could take to commit, so a file being written right now is never touched.
"""

import logging
from datetime import timedelta

from django.db.models import FileField, Q
from django.utils import timezone

from rooms.models import RoomImage
from rooms.storage import PRIVATE_PREFIX, ROOM_PHOTO_STORAGE

logger = logging.getLogger(__name__)

# room_image_path puts every photo under rooms/<2 hex>/, publicly or privately.
ROOTS = ("rooms", PRIVATE_PREFIX + "rooms")


def orphan_files_delete(*, older_than_seconds: int, now=None) -> list[str]:
    """Delete photo files (public media and private storage) with no RoomImage row and
    older than the cutoff.

    Returns the deleted names. Works on any Django storage (local disk or S3).
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_seconds)
    deleted = []
    for folder in _folders():
        for name in _orphans_in(folder):
            if ROOM_PHOTO_STORAGE.get_modified_time(name) < cutoff:
                ROOM_PHOTO_STORAGE.delete(name)
                deleted.append(name)
    if deleted:
        logger.warning("deleted %d orphan photo files: %s", len(deleted), deleted[:20])
    return deleted


def _folders() -> list[str]:
    folders = []
    for root in ROOTS:
        try:
            subfolders, _ = ROOM_PHOTO_STORAGE.listdir(root)
        except FileNotFoundError:
            continue
        folders += [root] + [f"{root}/{sub}" for sub in sorted(subfolders)]
    return folders


def _orphans_in(folder: str) -> list[str]:
    _, files = ROOM_PHOTO_STORAGE.listdir(folder)
    names = [f"{folder}/{name}" for name in files]
    return [name for name in names if name not in referenced_names(names)]


def referenced_names(names: list[str]) -> set[str]:
    """Those of `names` that a RoomImage file field (photo, thumbnail...) refers to."""
    fields = [f.name for f in RoomImage._meta.get_fields() if isinstance(f, FileField)]
    query = Q()
    for field in fields:
        query |= Q(**{f"{field}__in": names})
    # One query per folder: bounded memory however large the gallery grows.
    known = set()
    for row in RoomImage.objects.filter(query).values_list(*fields):
        known.update(row)
    return known
