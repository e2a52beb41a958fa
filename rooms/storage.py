"""Where traveller photos live: public media once approved, private storage until then.

A stored name says where its file is. Names under `private/` are in PRIVATE_MEDIA_ROOT
(outside MEDIA_ROOT, never served, no URL): photos waiting for a moderator, quarantined
or hidden. Every other name is in the default storage (MEDIA_ROOT or S3), whose URLs
are public. `RoomPhotoStorage` routes each name to its side, so the file fields, the
embedding workers (`matcher.embedding.read_stored_bytes` opens names through the field's
storage) and the orphan sweep read both sides alike. `move` copies a file to the other
side; the caller deletes the old copy once its row points at the new one.
"""

import logging
import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.utils.deconstruct import deconstructible

PRIVATE_PREFIX = "private/"


class PrivatePhotoStorage(FileSystemStorage):
    """PRIVATE_MEDIA_ROOT, read at use time (tests move it), and never given a URL."""

    def __init__(self):
        super().__init__(base_url=None)

    @property
    def base_location(self):
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("a photo in private storage has no public URL")


@deconstructible(path="rooms.storage.RoomPhotoStorage")
class RoomPhotoStorage(Storage):
    """Names under PRIVATE_PREFIX in private storage, the others in public media."""

    def __init__(self):
        self.private = PrivatePhotoStorage()

    def _side(self, name: str) -> tuple[Storage, str, str]:
        if is_private(name):
            return self.private, name.removeprefix(PRIVATE_PREFIX), PRIVATE_PREFIX
        return default_storage, name, ""

    def _open(self, name, mode="rb"):
        storage, inner, _ = self._side(name)
        return storage.open(inner, mode)

    def save(self, name, content, max_length=None):
        storage, inner, prefix = self._side(name)
        limit = None if max_length is None else max_length - len(prefix)
        return prefix + storage.save(inner, content, max_length=limit)

    def delete(self, name):
        storage, inner, _ = self._side(name)
        storage.delete(inner)

    def exists(self, name):
        storage, inner, _ = self._side(name)
        return storage.exists(inner)

    def listdir(self, path):
        storage, inner, _ = self._side(path)
        return storage.listdir(inner)

    def size(self, name):
        storage, inner, _ = self._side(name)
        return storage.size(inner)

    def url(self, name):
        storage, inner, _ = self._side(name)
        return storage.url(inner)

    def path(self, name):
        storage, inner, _ = self._side(name)
        return storage.path(inner)

    def get_modified_time(self, name):
        storage, inner, _ = self._side(name)
        return storage.get_modified_time(inner)


ROOM_PHOTO_STORAGE = RoomPhotoStorage()


def room_photo_storage():
    # A callable keeps the storage (and its settings lookups) out of migrations.
    return ROOM_PHOTO_STORAGE


def is_private(name: str) -> bool:
    return name.startswith(PRIVATE_PREFIX)


def move(name: str, *, public: bool) -> str:
    """Copy a stored file to the public or the private side; returns its new name.

    The old copy stays: the caller deletes it after the row that names the new copy
    committed, so a reader holding the old name never meets a missing file before then.
    """
    if not name or is_private(name) != public:
        return name  # no file, or already on that side
    target = name.removeprefix(PRIVATE_PREFIX) if public else PRIVATE_PREFIX + name
    with ROOM_PHOTO_STORAGE.open(name, "rb") as source:
        return ROOM_PHOTO_STORAGE.save(target, source)


def delete_files(names: list[str], why: str = "") -> None:
    """Delete stored photo files, each on its own: one failure is logged (the orphan
    sweep finds the file later) and the others are still deleted."""
    for name in names:
        try:
            ROOM_PHOTO_STORAGE.delete(name)
        except Exception:
            logging.getLogger(__name__).exception("could not delete %s %s", name, why)
