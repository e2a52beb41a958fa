"""The error responses of every API operation, in the OpenAPI schema.

REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]: drf-spectacular's AutoSchema, plus the errors
an operation can answer, worked out from the view as DRF and traffickcam/exceptions.py
will answer them (so no view lists them by hand):

- 400: it takes query parameters or a body;
- 401 / 403: a bad token, no permission, a CSRF failure (DRF answers 401 only when
  the view's first authenticator names a challenge; otherwise 403);
- 404: its path names an object, or it is a paginated list (a page past the end);
- 413 / 415: it takes a body;
- 429: it is throttled;
- 503: always (a database or Redis outage), with Retry-After.

All share the `Error` body. A response a view documents itself is kept. 405 (a method
an endpoint does not have) belongs to no operation: it is the `MethodNotAllowed`
component, described with the API.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx/5xx answer of the API. A 400 also keeps DRF's per-field "
    "lists of reasons under each invalid field's name.",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "errors": {
            "type": "array",
            "description": "With a 400: each invalid field (if any) and why.",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["reason"],
            },
        },
    },
    "required": ["detail"],
    "additionalProperties": True,
}
RETRY_AFTER = {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
RESPONSES = {
    400: ("BadRequest", "Invalid parameters or body; `errors` lists each field.", False),
    401: ("Unauthorized", "Missing, invalid, expired or revoked credentials.", False),
    403: (
        "Forbidden",
        "Not allowed: not signed in as the right kind of user, a bad token, or a "
        "CSRF failure of a signed-in browser session.",
        False,
    ),
    404: ("NotFound", "No such object (or not yours), or a page past the end.", False),
    405: ("MethodNotAllowed", "The endpoint has no such method.", False),
    413: ("PayloadTooLarge", "The request body is too large.", False),
    415: ("UnsupportedMediaType", "The body's Content-Type is not accepted here.", False),
    429: ("TooManyRequests", "Too many requests from this client.", True),
    503: ("ServiceUnavailable", "The database or Redis is down for a moment.", True),
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorsAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        _register_components(registry)
        responses = operation.setdefault("responses", {})
        for code in sorted(self.error_codes(operation)):
            responses.setdefault(
                str(code), {"$ref": f"#/components/responses/{RESPONSES[code][0]}"}
            )
        return operation

    def error_codes(self, operation: dict) -> set[int]:
        codes = {503}
        has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
        if "requestBody" in operation:
            codes |= {400, 413, 415}
        elif has_query:
            codes.add(400)
        if "{" in self.path or (self.method == "GET" and self._paginated()):
            codes.add(404)
        if self.view.get_throttles():
            codes.add(429)
        return codes | self._auth_codes()

    def _paginated(self) -> bool:
        return self._is_list_view() and self._get_paginator() is not None

    def _auth_codes(self) -> set[int]:
        authenticators = self.view.get_authenticators()
        restricted = any(not isinstance(p, AllowAny) for p in self.view.get_permissions())
        sessions = any(isinstance(a, SessionAuthentication) for a in authenticators)
        # Any other authenticator refuses a bad credential outright (a token).
        credentials = any(not isinstance(a, SessionAuthentication) for a in authenticators)
        challenge = bool(authenticators) and authenticators[0].authenticate_header(
            self.view.request
        )
        refused = 401 if challenge else 403
        codes = {refused} if restricted or credentials else set()
        if restricted or (sessions and self.method in UNSAFE_METHODS):
            codes.add(403)
        return codes


def _register_components(registry) -> None:
    registry.register_on_missing(
        ResolvedComponent("Error", ResolvedComponent.SCHEMA, ERROR_SCHEMA, object="Error")
    )
    for name, description, retry in RESPONSES.values():
        response = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if retry:
            response["headers"] = {"Retry-After": RETRY_AFTER}
        registry.register_on_missing(
            ResolvedComponent(name, ResolvedComponent.RESPONSE, response, object=name)
        )
