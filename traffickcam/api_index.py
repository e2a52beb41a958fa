"""GET /api/: the API's endpoints, and JSON 404s for /api/ paths that do not exist.

The index is read from the OpenAPI schema (what /api/schema/ publishes anyway), so it
lists exactly the documented operations and reveals nothing the schema does not: one
entry per operation, its URL, a one-line description and whether it needs an account.
JSON for API clients, DRF's browsable page for a browser.
"""

from functools import cache

from django.conf import settings
from django.http import HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

METHODS = ("get", "post", "put", "patch", "delete")


class ApiIndex(APIView):
    """The TraffickCam API: each endpoint, its URL and what it does.

    Errors are JSON: `{"detail": ..., "errors": [...]}`. The OpenAPI schema
    (/api/schema/) describes every request, response and error.
    """

    permission_classes = [AllowAny]
    schema = None  # not an operation of the API it describes

    def get(self, request):
        # Not build_absolute_uri(path): it would escape the braces of {id}.
        site = request.build_absolute_uri("/").rstrip("/")
        endpoints = [{**entry, "url": site + entry["url"]} for entry in api_operations()]
        return Response(
            {
                "schema": site + reverse("schema"),
                "docs": site + reverse("api-docs"),
                "endpoints": endpoints,
            }
        )


@cache
def api_operations() -> tuple[dict, ...]:
    """(method, path, description, authentication) of each documented operation."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return tuple(
        {
            "method": method.upper(),
            "url": path,
            "description": _one_line(operation),
            "authentication": "optional" if {} in operation.get("security", []) else "required",
        }
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    )


def _one_line(operation: dict) -> str:
    text = operation.get("summary") or operation.get("description") or ""
    return text.strip().split("\n", 1)[0]


class _AlwaysJson(BaseContentNegotiation):
    """JSON whatever the client accepts: a 404 is no place for a 406."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ApiNotFound(APIView):
    """Any /api/ path no endpoint has: a JSON 404 whatever the method, DEBUG or not.

    Last of the /api/ routes. It stands in for CommonMiddleware's APPEND_SLASH, which
    no longer sees unknown paths: a GET without the slash is redirected.
    """

    authentication_classes = []  # an unknown path is a 404, even with a bad token
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _AlwaysJson
    schema = None

    def get(self, request, rest):
        if request.method in ("GET", "HEAD") and self._slash_would_find(request.path):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        raise NotFound("No API endpoint at this URL; see /api/ for the list.")

    post = put = patch = delete = options = get

    def _slash_would_find(self, path: str) -> bool:
        if not settings.APPEND_SLASH or path.endswith("/"):
            return False
        try:
            match = resolve(f"{path}/")
        except Resolver404:
            return False
        return getattr(match.func, "view_class", None) is not ApiNotFound
