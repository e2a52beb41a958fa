"""Content-Security-Policy and Permissions-Policy on every page (the browser check that
the pages run under them is test_csp_browser.py)."""

import re

import pytest

from traffickcam.settings import _tile_source


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


PAGES = ["/", "/accounts/login/", "/investigate/", "/api/docs/", "/admin/login/", "/healthz"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_a_csp_without_inline_scripts(client, url):
    response = client.get(url)
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert all("unsafe-eval" not in value for values in policy.values() for value in values)


@pytest.mark.django_db
def test_the_page_style_block_carries_the_policy_nonce(client):
    response = client.get("/")
    nonce = re.search(r"'nonce-([^']+)'", " ".join(directives(response)["style-src"])).group(1)
    html = response.content.decode()
    assert f'<style nonce="{nonce}">' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert "traffickcam/base.css" in html


@pytest.mark.django_db
def test_geolocation_only_on_the_upload_page(client):
    upload = client.get("/")["Permissions-Policy"]
    assert "geolocation=(self)" in upload and "camera=()" in upload
    for url in ("/accounts/login/", "/investigate/", "/api/hotels/", "/admin/login/"):
        policy = client.get(url)["Permissions-Policy"]
        assert "geolocation=()" in policy and "camera=()" in policy, url
        assert "microphone=()" in policy and "payment=()" in policy, url


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", "https://*.tile.openstreetmap.org"),
        ("https://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org"),
        ("http://10.1.2.3:8080/tiles/{z}/{x}/{y}.png", "http://10.1.2.3:8080"),
    ],
)
def test_a_tile_server_is_allowed_in_img_src_only(url, source):
    assert _tile_source(url) == source


def test_map_tile_url_reaches_img_src(tmp_path):
    import subprocess
    import sys

    from testsupport import processes as testing
    from traffickcam.tests.test_security import production_env

    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "d = s.CONTENT_SECURITY_POLICY['DIRECTIVES']; print(d['img-src'], d['connect-src'])"
    )
    env = production_env(tmp_path, MAP_TILE_URL="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=testing.REPO, env=env,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "https://*.tile.example.org" in result.stdout.split("] [")[0]
    assert "tile.example.org" not in result.stdout.split("] [")[1]
