"""Logins, failed logins and lockouts: into the audit; privileged sessions timed."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts import events, policy


@receiver(user_logged_in)
def logged_in(sender, request, user, **kwargs):
    if policy.needs_second_factor(user):
        policy.session_started(request.session)
    events.record("login", request=request, user=user)


@receiver(user_login_failed)
def login_failed(sender, credentials, request=None, **kwargs):
    events.record("login_failed", request=request, username=credentials.get("username") or "")


@receiver(user_locked_out)
def locked_out(sender, request, username, ip_address, **kwargs):
    events.record("lockout", request=request, username=username or "")
