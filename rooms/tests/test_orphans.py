"""The orphan-file sweep: files no row refers to go once old enough; nothing else does."""

import os
import time

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from matcher.tests.embedding_factories import make_room_image
from rooms.orphans import orphan_files_delete
from rooms.tasks import sweep_orphan_files


def orphan(name: str, age_seconds: float) -> str:
    saved = default_storage.save(name, ContentFile(b"\xff\xd8 left by a killed upload"))
    past = time.time() - age_seconds
    os.utime(default_storage.path(saved), (past, past))
    return saved


def test_old_orphans_go_young_ones_and_referenced_files_stay(hotel):
    image = make_room_image(hotel)
    referenced = image.file.name
    os.utime(default_storage.path(referenced), (0, 0))  # old, but its row exists
    old = orphan("rooms/ab/old.jpg", 7200)
    young = orphan("rooms/ab/young.jpg", 10)  # may belong to an upload still committing
    top = orphan("rooms/top.jpg", 7200)

    assert sorted(orphan_files_delete(older_than_seconds=3600)) == sorted([old, top])
    assert default_storage.exists(referenced) and default_storage.exists(young)
    assert not default_storage.exists(old) and not default_storage.exists(top)
    assert orphan_files_delete(older_than_seconds=3600) == []  # idempotent


def test_nothing_uploaded_yet_is_not_an_error(db):
    assert orphan_files_delete(older_than_seconds=0) == []


def test_periodic_task_uses_the_configured_age(hotel, settings):
    settings.ORPHAN_FILE_MIN_AGE_SECONDS = 600
    orphan("rooms/cd/a.jpg", 1200)
    orphan("rooms/cd/b.jpg", 60)
    assert sweep_orphan_files() == 1
    assert "sweep-orphan-files" in settings.CELERY_BEAT_SCHEDULE
