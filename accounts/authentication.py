"""DRF authentication: sessions that passed the second factor, and hashed API tokens."""

from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)

from accounts import policy
from accounts.tokens import token_authenticate


class VerifiedSessionAuthentication(SessionAuthentication):
    """The session user, unless they need a second factor this session has not passed."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result and policy.needs_second_factor(result[0]) and not policy.is_verified(result[0]):
            return None
        return result


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <key>`: an unrevoked, unexpired token of an active user."""

    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token header.") from None
        token = token_authenticate(key, request=request._request)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
