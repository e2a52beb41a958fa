"""Login throttling (django-axes): a bounded brute force against both login forms, on
loopback. After LOGIN_FAILURE_LIMIT failures the right password is refused too, until
the lockout ends."""

import time
from datetime import timedelta

import pytest

from accounts.tests.conftest import PASSWORD, admin_login, password_login

COOLOFF = 8  # seconds: covers the failed logins on a loaded machine, then waited out


@pytest.fixture
def short_lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(seconds=COOLOFF)
    return settings


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize(
    "login", [password_login, admin_login], ids=["accounts-login", "admin-login"]
)
def test_brute_force_is_refused_until_the_lockout_ends(client, root, short_lockout, login):
    for _ in range(3):
        response = login(client, "root", password="wrong-guess")
        assert response.status_code in (200, 429) and not signed_in(client)
    refused = login(client, "root")  # the right password, during the lockout
    assert refused.status_code == 429 and not signed_in(client)
    html = refused.content.decode()
    assert 'id="lockout"' in html and "Too many failed logins" in html
    assert "3 failed" in html and "even with the right password" in html

    time.sleep(COOLOFF + 0.5)
    accepted = login(client, "root")
    assert accepted.status_code == 302 and signed_in(client)


def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, ivy, settings):
    """Finding 3 of the issue, as found: 30 failures, then the right password."""
    assert settings.AXES_FAILURE_LIMIT == 5 and settings.AXES_COOLOFF_TIME.total_seconds() >= 60
    statuses = [password_login(client, "ivy", password=f"guess-{i}").status_code for i in range(30)]
    assert statuses[:4] == [200] * 4 and set(statuses[4:]) == {429}
    assert password_login(client, "ivy").status_code == 429 and not signed_in(client)


def test_the_lockout_is_per_username_and_client_address(client, ivy, root, short_lockout):
    for _ in range(3):
        password_login(client, "ivy", password="wrong", REMOTE_ADDR="127.0.0.1")
    assert password_login(client, "ivy", REMOTE_ADDR="127.0.0.1").status_code == 429
    # Someone else cannot lock ivy out from their own address; other users are not locked.
    assert password_login(client, "ivy", REMOTE_ADDR="127.0.0.2").status_code == 302
    client.logout()
    assert password_login(client, "root", REMOTE_ADDR="127.0.0.1").status_code == 302


def test_behind_a_trusted_proxy_each_client_has_its_own_lockout(client, ivy, short_lockout):
    from ipaddress import ip_network

    short_lockout.TRUSTED_PROXIES = [ip_network("127.0.0.1/32")]
    attacker = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.66"}
    colleague = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    for _ in range(3):
        password_login(client, "ivy", password="wrong", **attacker)
    assert password_login(client, "ivy", **attacker).status_code == 429
    assert password_login(client, "ivy", **colleague).status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, ivy, short_lockout):
    for _ in range(2):
        password_login(client, "ivy", password="wrong")
    assert password_login(client, "ivy").status_code == 302
    client.logout()
    for _ in range(2):
        password_login(client, "ivy", password="wrong")
    assert password_login(client, "ivy", password=PASSWORD).status_code == 302
