"""The audit trail is append-only and hash-chained; `manage.py verify_audit` finds the
first entry altered or deleted behind the application's back.

The PostgreSQL trigger is tested when the suite runs on PostgreSQL
(`scripts/pytest-pgvector investigations/tests/test_audit_chain.py`).
"""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from investigations.audit import GENESIS, audit_event, audit_record, entry_hash, verify_chain
from investigations.models import AuditChainHead, AuditEntry, AuditImmutable

pytestmark = pytest.mark.django_db


def _events(count, **fields):
    return [
        audit_event(action="denied", detail={"path": f"/investigate/{n}/"}, **fields)
        for n in range(count)
    ]


def _verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def _raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _tamper(sql, params):
    """Change the table behind the application's back, as a database superuser could:
    on PostgreSQL that means getting round the append-only trigger first."""
    postgresql = connection.vendor == "postgresql"
    if postgresql:  # a superuser's way round every ordinary trigger
        _raw("SET LOCAL session_replication_role = replica", [])
    _raw(sql, params)
    if postgresql:
        _raw("SET LOCAL session_replication_role = DEFAULT", [])


def test_each_entry_carries_the_hash_of_the_one_before(alice, make_search):
    search = make_search(alice, filters={"country": "FR"})
    record = audit_record(user=alice, search=search, client_address="::ffff:10.0.0.1")
    event = audit_event(username="mallory", action="login_failed", detail={"reason": "password"})
    entries = list(AuditEntry.objects.order_by("pk"))

    assert entries[0].prev_hash == GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.entry_hash
    assert (record.entry_hash, event.entry_hash) == (entries[-2].entry_hash, entries[-1].entry_hash)
    # The hash is over what was stored, read back (an IPv4-mapped address unwrapped, say).
    stored = AuditEntry.objects.get(pk=record.pk)
    assert entry_hash(stored) == stored.entry_hash and len(stored.entry_hash) == 64
    head = AuditChainHead.objects.get()
    assert (head.length, head.last_id, head.last_hash) == (
        len(entries),
        event.pk,
        event.entry_hash,
    )
    assert verify_chain().ok and verify_chain().checked == len(entries)


def test_audit_event_records_a_user_or_the_name_typed():
    event = audit_event(username="x" * 200, action="login_failed", client_address="10.0.0.9")
    assert event.user is None and event.username == "x" * 150
    assert (event.action, event.client_address, event.detail) == ("login_failed", "10.0.0.9", {})


def test_the_application_can_neither_change_nor_delete_an_entry():
    entry = _events(1)[0]
    entry.username = "someone else"
    with pytest.raises(AuditImmutable):
        entry.save()
    with pytest.raises(AuditImmutable):
        entry.delete()
    with pytest.raises(AuditImmutable):
        AuditEntry.objects.filter(pk=entry.pk).update(username="someone else")
    with pytest.raises(AuditImmutable):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AuditImmutable):
        AuditEntry.objects.all().delete()
    with pytest.raises(AuditImmutable):
        AuditEntry.objects.bulk_create([AuditEntry(username="forged", action="login")])
    assert AuditEntry.objects.get(pk=entry.pk).username == ""
    assert verify_chain().ok


def test_deleting_an_account_keeps_its_entries_and_the_chain(django_user_model):
    user = django_user_model.objects.create_user("leaver")
    entry = audit_event(user=user, action="login")
    user.delete()
    kept = AuditEntry.objects.get(pk=entry.pk)
    assert kept.user is None and kept.username == "leaver"
    assert verify_chain().ok


def test_verify_audit_passes_an_intact_chain():
    _events(3)
    assert "Audit chain intact: 3 entries" in _verify()


def test_verify_audit_finds_an_entry_altered_in_the_database():
    first, second, third = _events(3)
    _tamper(
        "UPDATE investigations_auditentry SET username = %s WHERE id = %s", ["nobody", second.pk]
    )
    with pytest.raises(CommandError, match=f"entry {second.pk}: its fields hash to .*altered"):
        _verify()
    report = verify_chain()
    assert (report.broken_id, report.checked) == (second.pk, 1)


def test_verify_audit_finds_an_altered_detail_or_time():
    first, second = _events(2)
    _tamper(
        "UPDATE investigations_auditentry SET detail = %s WHERE id = %s",
        ['{"path": "/elsewhere/"}', first.pk],
    )
    assert verify_chain().broken_id == first.pk


def test_verify_audit_finds_a_rehashed_entry_by_the_next_link():
    """Rewriting an entry and its own hash breaks the link from the entry after it."""
    first, second, third = _events(3)
    forged = AuditEntry.objects.get(pk=second.pk)
    forged.username = "nobody"
    _tamper(
        "UPDATE investigations_auditentry SET username = %s, entry_hash = %s WHERE id = %s",
        ["nobody", entry_hash(forged), second.pk],
    )
    report = verify_chain()
    assert report.broken_id == third.pk and "prev_hash" in report.problem


def test_verify_audit_finds_a_deleted_entry():
    first, second, third = _events(3)
    _tamper("DELETE FROM investigations_auditentry WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match=f"entry {third.pk}: prev_hash .* entry {first.pk}"):
        _verify()


def test_verify_audit_finds_entries_deleted_at_the_end():
    first, second, third = _events(3)
    _tamper("DELETE FROM investigations_auditentry WHERE id = %s", [third.pk])
    with pytest.raises(CommandError, match="entries at the end were deleted"):
        _verify()


def test_an_entry_rolled_back_with_its_transaction_leaves_the_chain_whole():
    _events(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        _events(1)
        raise RuntimeError("the request failed")
    _events(1)
    assert AuditEntry.objects.count() == 2 and verify_chain().ok


WRITER = """
import os, pathlib, time
import django
django.setup()
from investigations.audit import audit_event
folder = pathlib.Path(os.environ["AUDIT_TEST_DIR"])
(folder / ("ready-" + os.environ["WRITER"])).touch()
while not (folder / "go").exists():
    time.sleep(0.01)
for n in range(int(os.environ["ENTRIES"])):
    audit_event(username=os.environ["WRITER"], action="token_used", detail={"n": n})
"""


def test_two_processes_appending_at_once_keep_one_linear_chain(tmp_path):
    """Two processes on one SQLite file (as deployed, not the tests' in-memory
    database) append at once; the chain head makes them take turns."""
    import os
    import subprocess
    import sys
    import time

    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "traffickcam.test_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "AUDIT_TEST_DIR": str(tmp_path),
        "ENTRIES": "40",
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER], env={**env, "WRITER": name})
        for name in ("one", "two")
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in ("one", "two")):
        assert time.monotonic() < deadline and all(w.poll() is None for w in writers)
        time.sleep(0.02)
    (tmp_path / "go").touch()
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]

    verified = subprocess.run(
        [*manage, "verify_audit"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stderr
    assert "Audit chain intact: 80 entries" in verified.stdout


@pytest.mark.skipif(connection.vendor != "postgresql", reason="in-memory SQLite: table locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_linear_chain():
    """Two threads, each with its own database connection, append at once (on SQLite's
    shared in-memory test database a second writer fails at once instead of waiting:
    the test above runs two processes on a file instead)."""
    per_thread, errors = 15, []
    start = threading.Barrier(2)

    def writer(name):
        try:
            start.wait()
            for n in range(per_thread):
                audit_event(username=name, action="token_used", detail={"n": n})
        except Exception as exc:  # reported below, with the thread's name
            errors.append((name, exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    entries = list(AuditEntry.objects.order_by("pk"))
    assert len(entries) == 2 * per_thread
    assert len({entry.prev_hash for entry in entries}) == len(entries)  # no fork
    report = verify_chain()
    assert report.ok, report.problem


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_update_and_delete_of_an_entry(django_user_model):
    entry = _events(1)[0]
    for sql in (
        "UPDATE investigations_auditentry SET username = 'nobody' WHERE id = %s",
        "DELETE FROM investigations_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw(sql, [entry.pk])
    # The one update let through: an account deleted, its entries keep the name.
    user = django_user_model.objects.create_user("leaver")
    kept = audit_event(user=user, action="login")
    user.delete()
    assert AuditEntry.objects.get(pk=kept.pk).username == "leaver"
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_the_entries_written_before_it():
    from django.db.migrations.executor import MigrationExecutor

    before = [("investigations", "0005_cases")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    OldEntry = executor.loader.project_state(before).apps.get_model("investigations", "AuditEntry")
    for n in range(3):
        OldEntry.objects.create(username=f"user{n}", action="export", filters={"n": n})

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    entries = list(AuditEntry.objects.order_by("pk"))
    assert [entry.username for entry in entries] == ["user0", "user1", "user2"]
    assert entries[0].prev_hash == GENESIS and entries[1].prev_hash == entries[0].entry_hash
    assert verify_chain().ok and verify_chain().checked == 3
    audit_event(action="login", username="after")  # the chain goes on from them
    assert AuditEntry.objects.order_by("pk").last().prev_hash == entries[-1].entry_hash
    assert verify_chain().ok
