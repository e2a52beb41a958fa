"""The TOTP second factor for investigators and staff: refused without it, enrolment
with a real code computed from the device's key, verification at each login, reset."""

import re

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.testing import enrol, totp_code
from accounts.tests.conftest import admin_login, password_login
from accounts.tokens import token_create

pytestmark = pytest.mark.real_second_factor  # force_login does not pass it here


@pytest.fixture(autouse=True)
def no_code_throttle(settings):
    """django-otp makes a user wait 1, 2, 4… s after each wrong code: off here, except in
    the test of that wait."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


INVESTIGATOR_PAGES = ["/investigate/", "/investigate/searches/", "/investigate/cases/"]


def test_an_investigator_with_only_a_password_is_sent_to_enrol(client, ivy):
    assert password_login(client, "ivy").status_code == 302
    for url in INVESTIGATOR_PAGES:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/otp/setup/?next=")
    # The session does not count for the API either (as if anonymous: refused).
    assert client.get("/api/cases/").status_code == 403
    assert client.get("/accounts/tokens/").status_code == 302  # no token minted meanwhile


def test_staff_without_the_second_factor_are_refused_the_admin(client, root):
    assert admin_login(client, "root").status_code == 302
    for url in ("/admin/", "/admin/auth/user/", "/admin/investigations/auditentry/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/otp/" in response["Location"], url


def test_force_login_is_not_enough_either(client, ivy, root):
    client.force_login(ivy)
    assert client.get("/investigate/").status_code == 302
    client.force_login(root)
    assert client.get("/admin/").status_code == 302


def test_enrolment_shows_the_key_locally_and_needs_a_right_code(client, ivy):
    password_login(client, "ivy")
    page = client.get("/accounts/otp/setup/?next=/investigate/")
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=ivy, confirmed=False)
    assert re.search(r'<div class="qr" id="otp-qr"><svg', html)  # drawn here, fetched nowhere
    assert "http" not in html.split('id="otp-qr"')[1].split("</div>")[0]
    secret = re.search(r'id="otp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    from base64 import b32decode

    assert b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
    assert client.get("/accounts/otp/setup/").content.decode().count(device.key) == 0

    wrong = client.post("/accounts/otp/setup/", {"code": "000000", "next": "/investigate/"})
    assert wrong.status_code == 200 and 'id="otp-errors"' in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/investigate/").status_code == 302

    answer = enrol(client, ivy)  # a code computed from the device's key, as the app does
    assert answer.status_code == 302 and answer["Location"] == "/investigate/"
    assert TOTPDevice.objects.get(user=ivy).confirmed
    assert client.get("/investigate/").status_code == 200
    assert client.get("/api/cases/").status_code == 200


def test_each_later_login_asks_for_a_code(client, ivy):
    password_login(client, "ivy")
    enrol(client, ivy)
    client.post("/accounts/logout/")
    password_login(client, "ivy")
    response = client.get("/investigate/searches/")
    assert response["Location"] == "/accounts/otp/verify/?next=%2Finvestigate%2Fsearches%2F"
    assert client.get("/accounts/otp/setup/").status_code == 302  # no second enrolment
    wrong = client.post("/accounts/otp/verify/", {"code": "123456", "next": "/investigate/"})
    assert wrong.status_code == 200 and "wrong or has expired" in wrong.content.decode()
    device = TOTPDevice.objects.get(user=ivy)
    right = client.post(
        "/accounts/otp/verify/", {"code": totp_code(device), "next": "/investigate/searches/"}
    )
    assert right.status_code == 302 and right["Location"] == "/investigate/searches/"
    assert client.get("/investigate/searches/").status_code == 200


def test_verification_does_not_redirect_off_site(client, ivy):
    password_login(client, "ivy")
    response = enrol(client, ivy, next_url="https://evil.example/")
    assert response["Location"] == "/investigate/"


def test_a_traveller_account_needs_no_second_factor(client, tom):
    assert password_login(client, "tom").status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/accounts/tokens/").status_code == 200


def test_api_tokens_are_the_non_interactive_path(ivy):
    _, key = token_create(user=ivy)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/cases/").status_code == 200


def test_reset_removes_the_device_and_ends_sessions(client, ivy, capsys):
    password_login(client, "ivy")
    enrol(client, ivy)
    assert client.get("/investigate/").status_code == 200
    call_command("reset_second_factor", "ivy")
    assert "1 device(s) removed, 1 session(s) ended" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=ivy).exists()
    assert client.get("/investigate/").status_code == 302  # logged out
    password_login(client, "ivy")
    assert client.get("/investigate/")["Location"].startswith("/accounts/otp/setup/")


def test_admin_lists_devices_without_their_key_and_can_delete_one(client, ivy, root):
    password_login(client, "ivy")
    enrol(client, ivy)
    device = TOTPDevice.objects.get(user=ivy)
    admin = client_class_login(root)
    change = admin.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert change.status_code == 200
    html = change.content.decode()
    assert device.key not in html and "qrcode" not in html.lower()
    delete = admin.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 302 and not TOTPDevice.objects.filter(pk=device.pk).exists()


def client_class_login(user):
    from django.test import Client

    from accounts.testing import pass_second_factor

    admin = Client()
    admin.force_login(user)
    pass_second_factor(admin, user)
    return admin


def test_wrong_codes_make_the_next_attempts_wait(client, ivy, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 30
    password_login(client, "ivy")
    client.get("/accounts/otp/setup/")
    device = TOTPDevice.objects.get(user=ivy)
    client.post("/accounts/otp/setup/", {"code": "000000"})
    refused = client.post("/accounts/otp/setup/", {"code": totp_code(device)})  # right, too soon
    assert refused.status_code == 200 and "Too many wrong codes" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed and device.throttling_failure_count >= 1
