"""Authentication events into the audit trail (investigations.audit.audit_event)."""

from investigations.audit import audit_event
from traffickcam.client import client_address


def record(action: str, *, request=None, user=None, username="", **detail) -> None:
    """One audit entry: `action` is one of the audit's actions (login, login_failed,
    lockout, otp_verified, otp_failed, token_created, token_used, token_revoked)."""
    if user is not None and not username:
        username = user.get_username()
    audit_event(
        user=user,
        username=username[:150],
        action=action,
        client_address=client_address(request) if request is not None else None,
        detail=detail or None,
    )
