"""API tokens: create (the key returned once), revoke, and the lookup behind
`Authorization: Token <key>`. Only the SHA-256 of a key is stored."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import events
from accounts.models import ApiToken


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def token_create(*, user, name="", lifetime_days=None, request=None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and its key (shown once, never stored)."""
    days = lifetime_days or settings.API_TOKEN_LIFETIME_DAYS
    if not 1 <= days <= settings.API_TOKEN_MAX_LIFETIME_DAYS:
        raise ValidationError(
            {"lifetime_days": f"between 1 and {settings.API_TOKEN_MAX_LIFETIME_DAYS} days"}
        )
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken(
        user=user,
        name=name,
        prefix=key[:8],
        digest=digest(key),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    token.full_clean()
    token.save()
    events.record(
        "token_created",
        request=request,
        user=user,
        token=token.prefix,
        expires=str(token.expires_at),
    )
    return token, key


@transaction.atomic
def token_revoke(*, token_id, user, request=None) -> ApiToken:
    """Revoke one of `user`'s own tokens (another user's: DoesNotExist)."""
    token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        events.record("token_revoked", request=request, user=user, token=token.prefix)
    return token


def token_authenticate(key: str, *, request=None) -> ApiToken | None:
    """The usable token with this key (not revoked, not expired, its user active), its
    last use recorded; None otherwise."""
    token = ApiToken.objects.usable().select_related("user").filter(digest=digest(key)).first()
    if token is None:
        return None
    token.last_used_at = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=token.last_used_at)
    interval = settings.API_TOKEN_USE_AUDIT_SECONDS  # a busy script: one entry per interval
    if not interval or cache.add(f"api-token-used:{token.pk}", True, timeout=interval):
        events.record("token_used", request=request, user=token.user, token=token.prefix)
    return token
