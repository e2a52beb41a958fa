"""/api/ (the endpoint index), JSON 404/405 under /api/ in DEBUG too, /favicon.ico."""

import io

import pytest
from PIL import Image


@pytest.fixture
def debug(settings):
    """Django's own 404 and 405 pages are HTML debug pages in DEBUG: the API's are not."""
    settings.DEBUG = True


def operations(response):
    return {(entry["method"], entry["url"]): entry for entry in response.json()["endpoints"]}


def test_index_lists_each_endpoint_with_a_one_line_description(client_for, db):
    response = client_for().get("/api/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["schema"] == "http://testserver/api/schema/"
    assert body["docs"] == "http://testserver/api/docs/"
    found = operations(response)
    hotels = found[("GET", "http://testserver/api/hotels/")]
    assert "hotel" in hotels["description"].lower() and hotels["authentication"] == "optional"
    assert found[("POST", "http://testserver/api/searches/")]["authentication"] == "required"
    assert ("GET", "http://testserver/api/searches/{id}/") in found  # a template, unescaped
    assert ("POST", "http://testserver/api/submissions/") in found
    assert all(
        entry["description"] and "\n" not in entry["description"] for entry in body["endpoints"]
    )


def test_index_shows_everyone_the_same_public_list(client_for, alice):
    anonymous = client_for().get("/api/", HTTP_ACCEPT="application/json").json()
    investigator = client_for(alice).get("/api/", HTTP_ACCEPT="application/json").json()
    assert anonymous == investigator  # nothing per user, so nothing private
    urls = [entry["url"] for entry in anonymous["endpoints"]]
    assert all(url.startswith("http://testserver/api/") for url in urls)  # no admin, no pages


def test_index_is_browsable_in_a_browser(client, db):
    response = client.get("/api/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "http://testserver/api/hotels/" in response.content.decode()


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_unknown_api_paths_are_json_404s(client, db, debug, method):
    response = getattr(client, method)("/api/no-such-thing/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/" in response.json()["detail"]


def test_unknown_path_under_a_known_one_is_a_json_404(client, db, debug):
    response = client.get("/api/hotels/nope/")
    assert response.status_code == 404 and response.json()["detail"]


def test_an_unknown_path_is_404_even_with_a_bad_token(client, db):
    response = client.get("/api/nothing-here/", HTTP_AUTHORIZATION="Token wrong")
    assert response.status_code == 404


def test_missing_slash_still_redirects(client, db, debug):
    response = client.get("/api/hotels", {"q": "inn"})
    assert response.status_code == 301
    assert response["Location"] == "/api/hotels/?q=inn"
    assert client.post("/api/hotels").status_code == 404  # a body cannot follow a redirect


def test_wrong_method_is_a_json_405(client, db, debug):
    response = client.delete("/api/hotels/", HTTP_ACCEPT="application/json")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}


def test_favicon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "public" in response["Cache-Control"]
    icon = Image.open(io.BytesIO(response.content))
    assert icon.format == "ICO" and (32, 32) in icon.info["sizes"]
    assert client.post("/favicon.ico").status_code == 405
