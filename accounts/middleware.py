"""Investigators and staff: session limits, then the second factor, on every page.

The JSON API (/api/) is left to DRF: `VerifiedSessionAuthentication` ignores a session
that has not passed the second factor, and API tokens are the non-interactive path.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

from accounts import policy

# Pages a signed-in user reaches before the second factor (and where it is asked).
OPEN_PAGES = {"login", "logout", "otp-verify", "otp-setup", "admin:logout"}
OPEN_PREFIXES = ("/api/", "/static/", "/media/", "/healthz")


class SessionLimitsMiddleware:
    """Ends an investigator's or staff member's session after the idle or absolute limit:
    the request goes on anonymous (pages send it to the login page)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if policy.needs_second_factor(request.user):
            if policy.session_expired(request.session):
                logout(request)
                if not request.path_info.startswith("/api/"):
                    messages.info(request, "Your session ended. Please log in again.")
            else:
                policy.session_touched(request.session)
        return self.get_response(request)


class SecondFactorMiddleware:
    """A signed-in investigator or staff member whose session has not passed the
    second factor is sent to verify it (or to enrol a device first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(OPEN_PREFIXES):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in OPEN_PAGES:
            return None
        user = request.user
        if not policy.needs_second_factor(user) or policy.is_verified(user):
            return None
        page = "otp-verify" if user_has_device(user) else "otp-setup"
        return redirect(f"{reverse(page)}?{urlencode({'next': request.get_full_path()})}")
