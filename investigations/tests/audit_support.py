"""Audit rows about investigator data, leaving out the account events (logins, tokens)
that creating the test users writes."""

from investigations.models import AuditEntry

ACCOUNT_ACTIONS = (
    "login",
    "login_failed",
    "lockout",
    "otp_verified",
    "otp_failed",
    "token_created",
    "token_used",
    "token_revoked",
)


def access_entries():
    return AuditEntry.objects.exclude(action__in=ACCOUNT_ACTIONS)
