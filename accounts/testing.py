"""For tests: a signed-in test client whose session has passed the second factor."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import policy


def pass_second_factor(client, user) -> None:
    """Mark `client`'s session verified with `user`'s TOTP device (a confirmed one is
    created if they have none), as a real code at /accounts/otp/verify/ would."""
    if not policy.needs_second_factor(user):
        return
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def totp_code(device) -> str:
    """A code the user's authenticator app shows, computed from the device's key: the
    current one, or the next one when the current one was already used (no replays)."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    totp.drift = device.drift
    totp.time = time.time()
    if device.last_t is not None and totp.t() <= device.last_t:
        totp.time += device.step * (device.last_t + 1 - totp.t())
    return f"{totp.token():0{device.digits}d}"


def enrol(client, user, next_url="/investigate/"):
    """The first login's second step, as the user does it: open the set-up page, read the
    key, type the code. Returns the answer to the code (a redirect to `next_url`)."""
    client.get(f"/accounts/otp/setup/?next={next_url}")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    return client.post("/accounts/otp/setup/", {"code": totp_code(device), "next": next_url})


def browser_login(page, base_url, username, password, next_url="/investigate/"):
    """Log in in a Playwright page as a person does: the password, then the second factor
    (enrolling a device on the first login, its code computed from the stored key)."""
    import re

    page.goto(f"{base_url}/accounts/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[action='/accounts/login/'] button[type=submit]")
    page.wait_for_load_state()
    step = re.search(r"/accounts/otp/(setup|verify)/", page.url)
    if step:
        device = TOTPDevice.objects.filter(user__username=username).order_by("-confirmed").first()
        page.fill("input[name=code]", totp_code(device))
        page.click(f"form[action='/accounts/otp/{step.group(1)}/'] button[type=submit]")
    page.wait_for_url(f"{base_url}{next_url}")
