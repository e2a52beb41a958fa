"""The audit trail: one row per access to investigator data, kept after the purge.

Append-only and hash-chained: each entry stores the SHA-256 of the previous entry
(`prev_hash`) and its own (`entry_hash`), over a canonical serialisation of its fields.
Appends go through `_append`, which takes the chain head row first, so concurrent
writers queue and the chain stays linear. `verify_chain` walks it (`manage.py
verify_audit`).
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from investigations.models import AuditChainHead, AuditEntry

GENESIS = "0" * 64
HEAD_ID = 1

# The fields the hash covers, in order. `user_id` is left out on purpose: deleting an
# account sets it to NULL (the one change PostgreSQL's trigger allows); `username`,
# copied at the time, is the evidence of who it was.
HASHED_FIELDS = (
    "prev_hash",
    "created_at",
    "username",
    "action",
    "search_id",
    "case_id",
    "filters",
    "query_sha256",
    "result_count",
    "client_address",
    "detail",
)


def _canonical_value(value):
    if value is None:
        return None
    if hasattr(value, "astimezone"):  # datetime: UTC, microseconds, one spelling
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dict | list | int | str | bool):
        return value
    return str(value)  # UUID


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash is taken over: its fields as sorted, compact JSON."""
    fields = {name: _canonical_value(getattr(entry, name)) for name in HASHED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def _json_safe(value) -> dict:
    # What the JSONField will give back when read: UUIDs and dates as strings.
    return json.loads(json.dumps(value or {}, cls=DjangoJSONEncoder))


def _lock_head() -> AuditChainHead:
    """Take the chain head for this transaction. The UPDATE comes first: it takes the
    row lock on PostgreSQL and the write lock on SQLite before anything is read."""
    if not AuditChainHead.objects.filter(pk=HEAD_ID).update(length=F("length") + 1):
        AuditChainHead.objects.get_or_create(pk=HEAD_ID)
        AuditChainHead.objects.filter(pk=HEAD_ID).update(length=F("length") + 1)
    return AuditChainHead.objects.select_for_update().get(pk=HEAD_ID)


def _append(entry: AuditEntry) -> AuditEntry:
    entry.filters = _json_safe(entry.filters)
    entry.detail = _json_safe(entry.detail)
    with transaction.atomic():
        head = _lock_head()
        entry.created_at = timezone.now()
        entry.prev_hash = head.last_hash or GENESIS
        entry.entry_hash = "0" * 64  # placeholder so full_clean passes
        entry.full_clean()  # normalises (an IPv6 address, say) before the hash
        entry.entry_hash = entry_hash(entry)
        entry.save(force_insert=True)
        AuditChainHead.objects.filter(pk=HEAD_ID).update(
            last_id=entry.pk, last_hash=entry.entry_hash
        )
    return entry


def audit_record(
    *,
    user,
    search=None,
    case=None,
    action=AuditEntry.Action.SEARCH,
    client_address=None,
    sha256="",
    detail: dict | None = None,
):
    """One audit row: searches, every opening of a query photo, export, report or case.
    `sha256`: the photo concerned, when no search holds it (a suggested mask)."""
    case_id = case.pk if case else getattr(search, "case_id", None)
    entry = AuditEntry(
        user=user,
        username=user.get_username(),
        action=action,
        search_id=search.pk if search else None,
        case_id=case_id,
        filters=search.filters if search else {},
        query_sha256=search.query_sha256 if search else sha256,
        result_count=len(search.hotels) if search else 0,
        client_address=client_address or None,
        detail=detail or {},
    )
    return _append(entry)


def audit_event(
    *,
    user=None,
    username: str = "",
    action: str,
    client_address=None,
    detail: dict | None = None,
    search=None,
) -> AuditEntry:
    """One audit row for an event no signed-in person caused on a search or case: a
    login (or a failed one, a lockout, a second factor), a token created, used or
    revoked, a request refused (403, 404 on a search or case, 429), a query photo read
    for the matcher's training (`search`). `username`: what was typed, or who read,
    when there is no user; `user`'s own name otherwise."""
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    entry = AuditEntry(
        user=user if authenticated else None,
        username=(user.get_username() if authenticated else username)[:150],
        action=action,
        client_address=client_address or None,
        detail=detail or {},
    )
    if search is not None:
        entry.search_id, entry.case_id = search.pk, search.case_id
        entry.query_sha256 = search.query_sha256
    return _append(entry)


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def verify_chain() -> ChainReport:
    """Walk the chain in id order; the first broken link, if any, and what differs."""
    expected_prev, previous_id, checked = GENESIS, None, 0
    for entry in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        if entry.prev_hash != expected_prev:
            after = f"entry {previous_id}" if previous_id else "the start of the chain"
            return ChainReport(
                checked,
                entry.pk,
                f"entry {entry.pk}: prev_hash {entry.prev_hash[:16]}… does not match "
                f"{after} ({expected_prev[:16]}…): an entry between them was deleted or "
                f"{after} was rewritten",
            )
        actual = entry_hash(entry)
        if actual != entry.entry_hash:
            return ChainReport(
                checked,
                entry.pk,
                f"entry {entry.pk}: its fields hash to {actual[:16]}…, stored "
                f"{entry.entry_hash[:16]}…: the entry was altered after it was written",
            )
        expected_prev, previous_id, checked = entry.entry_hash, entry.pk, checked + 1
    head = AuditChainHead.objects.filter(pk=HEAD_ID).first()
    head_hash = (head.last_hash if head else "") or GENESIS
    if head_hash != expected_prev or (head and head.length != checked):
        length = head.length if head else 0
        return ChainReport(
            checked,
            previous_id,
            f"the chain ends at entry {previous_id} ({expected_prev[:16]}…) but its head "
            f"records {length} entries ending at entry {head.last_id if head else None} "
            f"({head_hash[:16]}…): entries at the end were deleted",
        )
    return ChainReport(checked)
