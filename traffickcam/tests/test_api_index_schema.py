"""The OpenAPI schema documents each operation's errors, and they are what the API answers."""

import jsonschema
import pytest

from traffickcam.schema_errors import ERROR_SCHEMA


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/", {"format": "json"}).json()


def errors_of(schema, method, path) -> set[int]:
    responses = schema["paths"][path][method]["responses"]
    return {int(code) for code in responses if int(code) >= 400}


def assert_documented_error(schema, response, method, path):
    """The answer's status is documented for the operation, and its body fits Error."""
    assert response.status_code in errors_of(schema, method, path)
    jsonschema.validate(response.json(), ERROR_SCHEMA)


def test_every_operation_documents_errors_with_the_error_body(schema):
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert "503" in operation["responses"], (method, path)
            for code, response in operation["responses"].items():
                if int(code) >= 400 and "$ref" in response:
                    name = response["$ref"].rsplit("/", 1)[1]
                    content = schema["components"]["responses"][name]["content"]
                    assert content["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }


def test_errors_follow_what_the_view_does(schema):
    assert errors_of(schema, "get", "/api/hotels/") == {400, 403, 404, 503}
    assert errors_of(schema, "post", "/api/searches/") >= {400, 403, 413, 415, 429}
    assert 404 in errors_of(schema, "get", "/api/searches/{id}/")
    assert 400 not in errors_of(schema, "get", "/api/cases/{id}/report.pdf")  # nothing to send
    assert 429 not in errors_of(schema, "get", "/api/cases/")  # not throttled
    assert "Retry-After" in schema["components"]["responses"]["TooManyRequests"]["headers"]


def test_a_view_s_own_error_documentation_is_kept(schema):
    upload_400 = schema["paths"]["/api/submissions/"]["post"]["responses"]["400"]
    assert "$ref" not in upload_400  # the upload API's own UploadError, with `file`


def test_405_is_described(schema):
    assert "MethodNotAllowed" in schema["components"]["responses"]
    assert "405" in schema["info"]["description"]


def test_documented_errors_are_the_answers(schema, client_for, db):
    anonymous = client_for()
    bad_near = anonymous.get("/api/hotels/", {"near": "north"})
    assert_documented_error(schema, bad_near, "get", "/api/hotels/")
    assert bad_near.json()["errors"][0]["field"] == "near"
    past_the_end = anonymous.get("/api/hotels/", {"page": 9})
    assert_documented_error(schema, past_the_end, "get", "/api/hotels/")
    refused = anonymous.get("/api/cases/")  # no account: 403 here, not 401 (session first)
    assert_documented_error(schema, refused, "get", "/api/cases/")
    bad_token = client_for().get("/api/hotels/", HTTP_AUTHORIZATION="Token nope")
    assert_documented_error(schema, bad_token, "get", "/api/hotels/")
