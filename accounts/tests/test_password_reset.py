"""Password reset: absent without e-mail configured (EMAIL_HOST), then limited per
address and per client address."""

import pytest
from django.core import mail


def test_without_email_there_is_no_reset(client, db, settings):
    settings.EMAIL_HOST = ""
    assert 'id="password-reset-link"' not in client.get("/accounts/login/").content.decode()
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.post("/accounts/password_reset/", {"email": "x@example.org"}).status_code == 404
    assert client.get("/accounts/reset/MQ/set-password/").status_code == 404
    assert mail.outbox == []


@pytest.fixture
def email(settings):
    settings.EMAIL_HOST = "smtp.example.org"  # the tests' outbox still catches the mail
    settings.PASSWORD_RESET_PER_EMAIL_HOURLY = 2
    settings.PASSWORD_RESET_PER_CLIENT_HOURLY = 4
    return settings


def test_with_email_a_reset_is_sent(client, tom, email):
    assert 'id="password-reset-link"' in client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/password_reset/", {"email": "tom@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["tom@example.org"]


def test_resets_are_limited_per_address(client, tom, email):
    statuses = [
        client.post(
            "/accounts/password_reset/", {"email": "TOM@example.org"}, REMOTE_ADDR=f"10.0.0.{i}"
        ).status_code
        for i in range(3)
    ]
    assert statuses == [302, 302, 429]
    assert len(mail.outbox) == 2


def test_resets_are_limited_per_client_address(client, tom, email):
    statuses = [
        client.post("/accounts/password_reset/", {"email": f"u{i}@example.org"}).status_code
        for i in range(5)
    ]
    assert statuses == [302, 302, 302, 302, 429]
    refused = client.post("/accounts/password_reset/", {"email": "tom@example.org"})
    assert refused.status_code == 429 and "Too many password reset" in refused.content.decode()
    assert mail.outbox == []  # tom's address was never reached from here
    other = client.post(
        "/accounts/password_reset/", {"email": "tom@example.org"}, REMOTE_ADDR="10.9.9.9"
    )
    assert other.status_code == 302 and len(mail.outbox) == 1
