"""The audit trail: one row per access to investigator data, kept after the purge."""

from investigations.models import AuditEntry


def audit_record(
    *,
    user,
    search=None,
    case=None,
    action=AuditEntry.Action.SEARCH,
    client_address=None,
    sha256="",
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
    )
    entry.full_clean()
    entry.save()
    return entry
