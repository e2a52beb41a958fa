"""Retention: old searches and their photos go, audit rows stay."""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from investigations.audit import audit_record
from investigations.models import AuditEntry, Search
from investigations.services import searches_purge_expired
from investigations.tasks import purge_expired_searches


@pytest.fixture
def old_and_new(alice, bob, make_search, settings):
    settings.SEARCH_RETENTION_DAYS = 30
    old = [make_search(alice), make_search(bob)]
    new = make_search(alice)
    for search in old + [new]:
        audit_record(user=search.owner, search=search)
    Search.objects.filter(pk__in=[s.pk for s in old]).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    return old, new


def paths(searches):
    return [searches[0].query_image.path, searches[1].query_image.path]


def test_purge_deletes_old_searches_and_files_but_keeps_audit(old_and_new):
    old, new = old_and_new
    old_paths = paths(old)
    assert all(os.path.exists(p) for p in old_paths)
    assert searches_purge_expired() == 2
    assert list(Search.objects.all()) == [new]
    assert not any(os.path.exists(p) for p in old_paths)
    assert os.path.exists(new.query_image.path)
    assert AuditEntry.objects.filter(action="search").count() == 3
    assert searches_purge_expired() == 0  # a rerun finds nothing


def test_purge_removes_orphan_files_once_old(settings, alice, make_search):
    orphan = settings.PRIVATE_MEDIA_ROOT / "queries" / "orphan.jpg"
    recent = make_search(alice)
    orphan.write_bytes(b"left by a crash")
    searches_purge_expired()
    assert orphan.exists()  # too young to tell from a search being written now
    searches_purge_expired(now=timezone.now() + timedelta(days=31))
    assert not orphan.exists()
    assert not Search.objects.filter(pk=recent.pk).exists()  # 31 days on, it is old too


def test_command_prints_the_count(old_and_new, capsys):
    call_command("purge_searches")
    assert capsys.readouterr().out.strip() == "Deleted 2 expired searches."


def test_beat_task(old_and_new):
    assert purge_expired_searches.delay().get() == 2
    assert Search.objects.count() == 1


def test_purge_also_deletes_the_mask(alice, make_search, settings):
    from django.core.files.base import ContentFile

    search = make_search(alice)
    search.query_mask.save("mask.png", ContentFile(b"mask bytes"))
    mask_path = search.query_mask.path
    Search.objects.filter(pk=search.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert searches_purge_expired() == 1
    assert not os.path.exists(mask_path)
