"""Security settings and guarantees that no single feature's tests own.

- `manage.py check --deploy` is clean with production settings (a subprocess, its
  environment as a deployment would set it);
- every POST form carries a CSRF token and is refused without it;
- uploads are rate-limited per address and searches per user, with JSON 429s;
- stored photos are never served sniffable or executable;
- secrets come from the environment only;
- the deploy guide points at TRUSTED_PROXIES for the client address.
(Logins, second factor, sessions and tokens: accounts/tests/; headers: test_headers.py.)
(The authorisation matrix of every URL is investigations/tests/test_access_matrix.py.)
"""

import ast
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from accounts.tokens import token_create
from testsupport import processes as testing

SETTINGS_FILE = testing.REPO / "traffickcam" / "settings.py"


def production_env(tmp_path, **overrides) -> dict:
    """What a deployment sets: no DEBUG, a long random key from the environment."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "traffickcam.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "traffickcam.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    env.update(overrides)
    return env


def run_manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=testing.REPO, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run_manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run_manage(env, "check")
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_keeps_query_photos_out_of_public_folders(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "print(s.MEDIA_ROOT.resolve(), s.PRIVATE_MEDIA_ROOT.resolve(), s.STATIC_ROOT.resolve(),"
        "s.DEBUG, sep='\\n')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=testing.REPO, env=production_env(tmp_path),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    media, private, static, debug = result.stdout.split("\n")[:4]
    assert debug == "False"
    for public in (Path(media), Path(static)):
        assert not Path(private).is_relative_to(public) and not public.is_relative_to(private)


def test_settings_hold_no_literal_secret():
    """No password, key or token is written in settings: they come from the environment."""
    secret_name = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY")
    found = []
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text())):
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        value = node.value
        literal = isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value
        # Django's own marker for a development key, refused by check --deploy.
        if literal and not value.value.startswith("django-insecure-"):
            found += [name for name in names if secret_name.search(name)]
    assert not found, f"literal secrets in settings.py: {found}"
    source = SETTINGS_FILE.read_text()
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}", source)
    assert re.search(r'SECRET_KEY = env_secret\("SECRET_KEY"\)', source)


# --- CSRF ---

FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)


def post_forms(html: str) -> list[tuple[str, str]]:
    """(action, form html) of every POST form on a page."""
    forms = []
    for form in FORM.findall(html):
        tag = form[: form.index(">")]
        if re.search(r'method="post"', tag, re.I):
            action = re.search(r'action="([^"]*)"', tag)
            forms.append((action.group(1) if action else "", form))
    return forms


@pytest.fixture
def csrf_pages(db, alice, django_user_model):
    """(client, page) pairs: every page with a POST form, as someone who can see it."""
    anonymous = Client(enforce_csrf_checks=True)
    investigator = Client(enforce_csrf_checks=True)
    investigator.force_login(alice)
    admin = Client(enforce_csrf_checks=True)
    admin.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "x"))
    return [
        (anonymous, "/"),
        (anonymous, "/accounts/login/"),
        (anonymous, "/admin/login/"),
        (investigator, "/investigate/"),
        (investigator, "/accounts/password_change/"),
        (admin, "/admin/rooms/hotel/add/"),
    ]


def test_every_post_form_has_a_csrf_token_and_is_refused_without_it(csrf_pages):
    checked = 0
    for client, page in csrf_pages:
        response = client.get(page)
        assert response.status_code == 200, page
        forms = post_forms(response.content.decode())
        assert forms, f"no POST form on {page}"
        for action, form in forms:
            assert 'name="csrfmiddlewaretoken"' in form, f"form to {action!r} on {page}"
            refused = client.post(action or page, {})
            assert refused.status_code == 403, f"{page} -> {action}: {refused.status_code}"
            checked += 1
    print(f"\nCSRF: {checked} POST forms checked")
    assert checked >= 7  # the logout button is on every signed-in page too


def test_the_token_from_the_page_is_accepted(db):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/accounts/login/", {"csrfmiddlewaretoken": token, "username": "x"})
    assert response.status_code == 200  # the form's own error, not a CSRF 403


def test_session_api_calls_need_csrf_but_token_calls_do_not(alice, image_bytes):
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)
    response = session.post("/api/searches/", {})
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    _, key = token_create(user=alice)
    token = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {key}")
    assert token.post("/api/searches/", {}).status_code == 400  # through CSRF, to validation


# --- rate limits ---


def test_uploads_are_limited_per_address_with_a_json_429(client, hotel, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    def post(address):
        return client.post("/api/submissions/", {"hotel": hotel.id}, REMOTE_ADDR=address)

    assert [post("198.51.100.1").status_code for _ in range(3)] == [400, 400, 429]
    refused = post("198.51.100.1")
    assert refused.json()["detail"].startswith("Too many uploads") and refused["Retry-After"]
    assert post("198.51.100.2").status_code == 400  # another address has its own budget


def test_searches_are_limited_per_user_with_a_json_429(monkeypatch, alice, bob, client_for):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"searches": "1/hour"})
    alice_client = client_for(alice, token=True)
    alice_client.post("/api/searches/", {}, REMOTE_ADDR="198.51.100.1")
    refused = alice_client.post("/api/searches/", {}, REMOTE_ADDR="198.51.100.9")  # new address
    assert refused.status_code == 429 and refused["Retry-After"] and refused.json()["detail"]
    assert client_for(bob, token=True).post("/api/searches/", {}).status_code == 400


# --- stored photos: never sniffable, never executable ---


@pytest.fixture
def stored_photo(client, hotel, image_bytes, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    # An HTML payload after a real JPEG: the kind of file a browser might sniff as HTML.
    payload = image_bytes() + b"<html><script>alert(1)</script></html>"
    photo = SimpleUploadedFile("x.html", payload, content_type="text/html")
    response = client.post(
        "/api/submissions/", {"hotel": hotel.id, "room_number": "1", "images": [photo]}
    )
    assert response.status_code == 201
    from rooms.models import RoomImage

    return RoomImage.objects.get().file


def test_stored_photo_is_a_reencoded_jpeg_that_cannot_run(stored_photo, settings):
    path = Path(settings.MEDIA_ROOT) / stored_photo.name
    content = path.read_bytes()
    assert content.startswith(b"\xff\xd8") and b"<script" not in content
    assert path.suffix == ".jpg"
    assert stat.S_IMODE(path.stat().st_mode) & 0o111 == 0  # no execute bit, anyone


def test_media_served_by_django_carry_nosniff(stored_photo, settings, rf):
    from django.middleware.security import SecurityMiddleware
    from django.views.static import serve

    # The development media route (DEBUG only), through the project's security middleware.
    middleware = SecurityMiddleware(
        lambda request: serve(request, stored_photo.name, document_root=settings.MEDIA_ROOT)
    )
    response = middleware(rf.get(f"/media/{stored_photo.name}"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_media_are_not_served_by_django_in_production(stored_photo, client):
    assert client.get(f"/media/{stored_photo.name}").status_code == 404


def test_query_photo_is_served_private_and_nosniff(alice, make_search, client_for):
    search = make_search(alice)
    response = client_for(alice).get(f"/api/searches/{search.pk}/query-image")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]


def test_deploy_doc_sets_nosniff_for_media_servers():
    doc = (testing.REPO / "docs" / "deploy.md").read_text()
    assert "X-Content-Type-Options" in doc and "nosniff" in doc
    assert "add_header" in doc  # nginx
    assert "ContentType" in doc or "Content-Type" in doc  # S3 objects


def test_deploy_doc_names_trusted_proxies_not_gunicorn_for_the_client_address():
    doc = (testing.REPO / "docs" / "deploy.md").read_text()
    assert "TRUSTED_PROXIES" in doc and "X-Forwarded-For" in doc
    claims = re.findall(r"[^.]*--forwarded-allow-ips[^.]*\.", doc)
    assert claims and all("does **not**" in claim or "only" in claim for claim in claims)
