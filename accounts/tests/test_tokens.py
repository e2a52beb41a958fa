"""API tokens: hashed at rest, expiring, last use recorded, created and revoked by their
owner (a page under /accounts/tokens/), keys never shown again or in the admin."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import token_create, token_revoke


def api(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_only_a_hash_of_the_key_is_stored(ivy):
    token, key = token_create(user=ivy)
    assert len(key) >= 40 and token.digest == hashlib.sha256(key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert not any(key in str(value) for row in rows for value in row)
    assert token.prefix == key[:8]


def test_a_token_works_and_records_its_last_use(ivy):
    token, key = token_create(user=ivy)
    assert token.last_used_at is None
    assert api(key).get("/api/cases/").status_code == 200
    token.refresh_from_db()
    assert timezone.now() - token.last_used_at < timedelta(seconds=5)


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"revoked_at": timezone.now()},
    ],
    ids=["expired", "revoked"],
)
def test_expired_and_revoked_tokens_are_refused(ivy, change):
    token, key = token_create(user=ivy)
    ApiToken.objects.filter(pk=token.pk).update(**change)
    response = api(key).get("/api/cases/")
    assert response.status_code in (401, 403)
    assert "expired or revoked" in response.json()["detail"]


def test_a_wrong_key_and_an_inactive_user_are_refused(ivy):
    _, key = token_create(user=ivy)
    assert api(key + "x").get("/api/cases/").status_code in (401, 403)
    ivy.is_active = False
    ivy.save()
    assert api(key).get("/api/cases/").status_code in (401, 403)


def test_tokens_expire_after_the_configured_lifetime(ivy, settings):
    settings.API_TOKEN_LIFETIME_DAYS = 30
    token, _ = token_create(user=ivy)
    assert abs(token.expires_at - timezone.now() - timedelta(days=30)) < timedelta(seconds=5)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        token_create(user=ivy, lifetime_days=settings.API_TOKEN_MAX_LIFETIME_DAYS + 1)


def test_the_owner_creates_a_token_on_the_page_and_sees_the_key_once(client, ivy):
    client.force_login(ivy)
    response = client.post("/accounts/tokens/", {"name": "nightly script", "lifetime_days": 7})
    assert response.status_code == 200
    key = re.search(r'id="token-key">([^<]+)<', response.content.decode()).group(1)
    assert api(key).get("/api/cases/").status_code == 200
    token = ApiToken.objects.get(user=ivy, name="nightly script")
    assert (token.expires_at - token.created_at).days == 7
    listing = client.get("/accounts/tokens/").content.decode()
    assert key not in listing and token.prefix in listing and "nightly script" in listing


def test_the_owner_revokes_and_another_user_cannot(client, ivy, tom):
    token, key = token_create(user=ivy)
    client.force_login(tom)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert api(key).get("/api/cases/").status_code == 200
    with pytest.raises(ApiToken.DoesNotExist):
        token_revoke(token_id=token.pk, user=tom)

    client.force_login(ivy)
    assert client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api(key).get("/api/cases/").status_code in (401, 403)


def test_investigator_create_returns_a_working_key_stored_hashed(db):
    from investigations.services import investigator_create

    user, key = investigator_create(username="carl", team_name="Team C", password=None)
    assert ApiToken.objects.get(user=user).digest == hashlib.sha256(key.encode()).hexdigest()
    assert api(key).get("/api/cases/").status_code == 200


def test_the_admin_shows_no_key(client, ivy, root):
    token, key = token_create(user=ivy)
    client.force_login(root)
    listing = client.get("/admin/accounts/apitoken/")
    detail = client.get(f"/admin/accounts/apitoken/{token.pk}/change/")
    assert listing.status_code == 200 and detail.status_code == 200
    for page in (listing, detail):
        html = page.content.decode()
        assert key not in html and token.digest not in html


def test_old_plain_drf_tokens_are_carried_over_hashed(ivy):
    """Migration accounts.0002: a DRF token's key keeps working; its plain text is gone."""
    from importlib import import_module
    from types import SimpleNamespace

    from django.apps import apps

    migration = import_module("accounts.migrations.0002_hash_drf_tokens")
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id integer, "
            "created datetime)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [old_key, ivy.pk, "2024-01-02 03:04:05"],
        )
    editor = SimpleNamespace(connection=connection, quote_name=connection.ops.quote_name)
    migration.hash_drf_tokens(apps, editor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    token = ApiToken.objects.get(digest=hashlib.sha256(old_key.encode()).hexdigest())
    assert token.user == ivy and token.created_at.year == 2024 and token.status == "active"
    assert api(old_key).get("/api/cases/").status_code == 200
