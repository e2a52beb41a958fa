"""Second factor (enrol, verify), API tokens, and password reset when e-mail exists."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import events, qr
from accounts.forms import CodeForm, TokenCreateForm
from accounts.models import ApiToken
from accounts.tokens import token_create, token_revoke
from traffickcam.client import client_network


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


def _refusal(devices) -> str:
    """Why a code was refused: wrong, or too many wrong ones lately (each failure doubles
    the wait before the device checks another code)."""
    for device in devices:
        allowed, info = device.verify_is_allowed()
        if not allowed and info and info.get("locked_until"):
            wait = max(1, int((info["locked_until"] - timezone.now()).total_seconds()) + 1)
            return f"Too many wrong codes: wait {wait} seconds, then enter a new code."
    return "That code is wrong or has expired. Enter the code the app shows now."


def _verified(request, device):
    otp_login(request, device)
    events.record("otp_verified", request=request, user=request.user, device=device.name)
    return redirect(_next(request))


@never_cache
@login_required
def otp_verify(request):
    """The second step of a login: a code from the user's confirmed device."""
    if not user_has_device(request.user):
        return redirect(f"{reverse('otp-setup')}?{request.GET.urlencode()}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        devices = TOTPDevice.objects.devices_for_user(request.user, confirmed=True)
        for device in devices:
            if device.verify_token(form.cleaned_data["code"]):
                return _verified(request, device)
        events.record("otp_failed", request=request, user=request.user)
        form.add_error("code", _refusal(devices))
    return render(request, "accounts/otp_verify.html", {"form": form, "next": _next(request)})


@never_cache
@login_required
def otp_setup(request):
    """Enrolment, once: the QR code and secret of a new TOTP device, confirmed by a code."""
    if user_has_device(request.user):
        return redirect(f"{reverse('otp-verify')}?{request.GET.urlencode()}")
    device = TOTPDevice.objects.devices_for_user(request.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=request.user, name="Authenticator app", confirmed=False
        )
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            return _verified(request, device)
        events.record("otp_failed", request=request, user=request.user, enrolment=True)
        form.add_error("code", _refusal([device]))
    context = {
        "form": form,
        "next": _next(request),
        "qr_svg": qr.svg(device.config_url),
        "secret": qr.secret(device),
    }
    return render(request, "accounts/otp_setup.html", context)


# --- API tokens ---


@never_cache
@login_required
def token_list(request):
    """The user's own tokens; a new one's key is shown once, on the answer to its POST."""
    form = TokenCreateForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        token, key = token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            lifetime_days=form.cleaned_data["lifetime_days"],
            request=request,
        )
        created = {"token": token, "key": key}
        form = TokenCreateForm()
    tokens = ApiToken.objects.filter(user=request.user)
    return render(
        request, "accounts/tokens.html", {"form": form, "tokens": tokens, "created": created}
    )


@require_POST
@login_required
def token_revoke_view(request, pk):
    try:
        token = token_revoke(token_id=pk, user=request.user, request=request)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.info(request, f"Token {token.prefix}… revoked.")
    return redirect("token-list")


# --- password reset: only with e-mail configured, limited per address and per client ---


def _over_limit(key: str, limit: int) -> bool:
    """Counts one request against `key` for an hour; True once `limit` is exceeded."""
    cache.add(key, 0, timeout=3600)
    try:
        return cache.incr(key) > limit
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=3600)
        return False


def _reset_enabled(view):
    def wrapper(request, *args, **kwargs):
        if not settings.EMAIL_HOST:
            raise Http404("Password reset is not available: ask your administrator.")
        return view(request, *args, **kwargs)

    return wrapper


class PasswordResetView(auth_views.PasswordResetView):
    def post(self, request, *args, **kwargs):
        limit = settings.PASSWORD_RESET_PER_CLIENT_HOURLY
        if _over_limit(f"password-reset:client:{client_network(request)}", limit):
            return render(request, "registration/password_reset_limited.html", status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        if _over_limit(f"password-reset:email:{email}", settings.PASSWORD_RESET_PER_EMAIL_HOURLY):
            return render(self.request, "registration/password_reset_limited.html", status=429)
        return super().form_valid(form)


password_reset = _reset_enabled(PasswordResetView.as_view())
password_reset_done = _reset_enabled(auth_views.PasswordResetDoneView.as_view())
password_reset_confirm = _reset_enabled(auth_views.PasswordResetConfirmView.as_view())
password_reset_complete = _reset_enabled(auth_views.PasswordResetCompleteView.as_view())
