"""Who needs the stronger login: investigators and staff (admin users).

They need a verified TOTP device in the session, and their sessions end after
PRIVILEGED_SESSION_IDLE_SECONDS without a request or PRIVILEGED_SESSION_MAX_SECONDS
after the login. Everyone else's session is as before.
"""

import time

from django.conf import settings

from investigations.permissions import is_investigator

LOGIN_AT = "accounts_login_at"  # session keys: when the password login happened,
SEEN_AT = "accounts_seen_at"  # and the last request


def needs_second_factor(user) -> bool:
    if not (user and user.is_authenticated):
        return False
    return user.is_staff or user.is_superuser or is_investigator(user)


def is_verified(user) -> bool:
    """The session passed the second factor (django_otp's OTPMiddleware sets it up)."""
    return bool(getattr(user, "is_verified", None) and user.is_verified())


def session_started(session) -> None:
    now = int(time.time())
    session[LOGIN_AT] = now
    session[SEEN_AT] = now


def session_expired(session) -> bool:
    """Idle too long, or logged in too long ago (a session without the marks: expired)."""
    now = time.time()
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if login_at is None or seen_at is None:
        return True
    return (
        now - seen_at > settings.PRIVILEGED_SESSION_IDLE_SECONDS
        or now - login_at > settings.PRIVILEGED_SESSION_MAX_SECONDS
    )


def session_touched(session) -> None:
    """Record this request; written at most once a minute."""
    now = int(time.time())
    if now - session.get(SEEN_AT, 0) >= 60:
        session[SEEN_AT] = now
    remaining = min(
        settings.PRIVILEGED_SESSION_IDLE_SECONDS,
        session[LOGIN_AT] + settings.PRIVILEGED_SESSION_MAX_SECONDS - now,
    )
    if session.get_expiry_age() != remaining:
        session.set_expiry(max(remaining, 1))
