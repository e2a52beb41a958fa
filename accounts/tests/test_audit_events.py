"""Authentication events reach the audit trail, with the client's address."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts.testing import enrol
from accounts.tests.conftest import password_login
from accounts.tokens import token_create, token_revoke
from investigations.models import AuditEntry


def actions(**filters) -> list[str]:
    return list(
        AuditEntry.objects.filter(**filters).order_by("pk").values_list("action", flat=True)
    )


@pytest.mark.real_second_factor
def test_logins_failures_lockouts_and_second_factor_are_audited(client, ivy, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=5)
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    password_login(client, "ivy", password="wrong", REMOTE_ADDR="127.0.0.9")
    password_login(client, "ivy", password="wrong", REMOTE_ADDR="127.0.0.9")
    assert "lockout" in actions(username="ivy")
    failed = AuditEntry.objects.filter(action="login_failed").first()
    assert failed.username == "ivy" and failed.user is None
    assert failed.client_address == "127.0.0.9"

    password_login(client, "ivy")
    client.get("/accounts/otp/setup/")
    client.post("/accounts/otp/setup/", {"code": "000000"})
    enrol(client, ivy)
    assert actions(user=ivy) == ["token_created", "login", "otp_failed", "otp_verified"]
    assert AuditEntry.objects.get(action="login").client_address == "127.0.0.1"


def test_token_creation_use_and_revocation_are_audited(ivy, settings):
    settings.API_TOKEN_USE_AUDIT_SECONDS = 300
    token, key = token_create(user=ivy, name="script")
    client = APIClient(REMOTE_ADDR="198.51.100.4")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    for _ in range(3):
        assert client.get("/api/cases/").status_code == 200
    token_revoke(token_id=token.pk, user=ivy)
    assert actions(user=ivy, action__startswith="token_") == [
        "token_created",  # with the account (investigator_create)
        "token_created",
        "token_used",  # once for three uses within API_TOKEN_USE_AUDIT_SECONDS
        "token_revoked",
    ]
    used = AuditEntry.objects.get(action="token_used")
    assert used.client_address == "198.51.100.4" and used.detail["token"] == key[:8]
    assert key not in str(list(AuditEntry.objects.values()))
