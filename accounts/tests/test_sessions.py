"""Investigators' and staff sessions end after PRIVILEGED_SESSION_IDLE_SECONDS without a
request and PRIVILEGED_SESSION_MAX_SECONDS after the login; others' are as before."""

import time

import pytest

from accounts import policy
from accounts.tests.conftest import password_login


def age(client, *, login_ago, seen_ago):
    session = client.session
    now = time.time()
    session[policy.LOGIN_AT] = int(now - login_ago)
    session[policy.SEEN_AT] = int(now - seen_ago)
    session.save()


@pytest.fixture
def limits(settings):
    settings.PRIVILEGED_SESSION_IDLE_SECONDS = 1800
    settings.PRIVILEGED_SESSION_MAX_SECONDS = 12 * 3600
    return settings


def test_an_active_session_within_the_limits_goes_on(client, ivy, limits):
    client.force_login(ivy)
    age(client, login_ago=11 * 3600, seen_ago=1700)
    assert client.get("/investigate/").status_code == 200
    assert time.time() - client.session[policy.SEEN_AT] < 5  # the request was recorded
    assert client.session.get_expiry_age() <= 1800  # the cookie does not outlive it


def test_an_idle_session_ends(client, ivy, limits):
    client.force_login(ivy)
    age(client, login_ago=3600, seen_ago=1801)
    response = client.get("/investigate/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert "Your session ended" in page


def test_a_session_ends_at_the_absolute_limit_however_active(client, ivy, limits):
    client.force_login(ivy)
    age(client, login_ago=12 * 3600 + 1, seen_ago=10)
    assert client.get("/investigate/").status_code == 302
    assert client.get("/api/cases/").status_code == 403


def test_the_api_session_ends_too(client, ivy, limits):
    client.force_login(ivy)
    assert client.get("/api/cases/").status_code == 200
    age(client, login_ago=3600, seen_ago=1801)
    assert client.get("/api/cases/").status_code == 403


def test_staff_sessions_end_in_the_admin(client, root, limits):
    client.force_login(root)
    assert client.get("/admin/").status_code == 200
    age(client, login_ago=3600, seen_ago=1801)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_real_login_starts_the_clock(client, tom, ivy, limits):
    password_login(client, "ivy")
    assert time.time() - client.session[policy.LOGIN_AT] < 5


def test_other_users_keep_their_sessions(client, tom, limits):
    password_login(client, "tom")
    age(client, login_ago=13 * 3600, seen_ago=13 * 3600)
    client.get("/")
    assert "_auth_user_id" in client.session
