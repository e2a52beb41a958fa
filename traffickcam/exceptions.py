"""One JSON error shape for every API failure, whoever raised it.

Every 4xx/5xx answer of the API is a JSON object with a human-readable `detail`
string. Validation errors also list `errors: [{"field": ..., "reason": ...}]` and, for
clients written against DRF's default shape, keep the per-field lists as well.

Covered here and nowhere else:
- DRF's own errors (400, 401, 403, 404, 405, 415, 429), given a `detail` string;
- Django's request-parsing refusals (`RequestDataTooBig` -> 413, `TooManyFieldsSent`,
  `TooManyFilesSent`, other `SuspiciousOperation`, undecodable bytes -> 400), which
  would otherwise become an HTML "Bad Request" page;
- a database or Redis (cache, broker) that does not answer -> 503 with Retry-After,
  so a client retries later instead of seeing a 500 for a passing outage.

`handler400/404/500` give the same shape to /api/ URLs that no DRF view handled
(an unknown path, an error raised by middleware); HTML pages keep Django's pages.
"""

import logging

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = 30
UNAVAILABLE = "The service is temporarily unavailable; retry in a moment."


def api_exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: DRF's handler, then the cases it leaves as 500."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = error_body(response.data, response.status_code)
        return response
    refusal = request_refusal(exc)
    if refusal is not None:
        code, detail = refusal
        logger.warning("refused request: %s", exc)
        return Response({"detail": detail}, status=code)
    if is_outage(exc):
        logger.error("dependency unavailable: %r", exc)
        return Response({"detail": UNAVAILABLE}, status=503, headers=_retry_after())
    return None  # a real bug: Django logs it and answers 500


def request_refusal(exc) -> tuple[int, str] | None:
    """(status, reason) for a request Django refused to parse, else None."""
    if isinstance(exc, RequestDataTooBig):
        return 413, "The request body is too large."
    if isinstance(exc, TooManyFieldsSent):
        return 400, "The request has too many form fields."
    if isinstance(exc, TooManyFilesSent):
        return 400, "The request has too many files."
    if isinstance(exc, SuspiciousOperation):
        return 400, "The request could not be processed."
    if isinstance(exc, UnicodeError):
        return 400, "The request contains bytes that are not valid text."
    return None


def is_outage(exc) -> bool:
    """A dependency (database, Redis cache, Celery broker) is down, not a bug of ours."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DatabaseError):
        return False  # integrity and data errors are bugs: let them surface
    try:
        import redis
        from kombu.exceptions import OperationalError as BrokerError
    except ImportError:  # pragma: no cover - both are requirements
        return False
    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError) or (
        isinstance(exc, BrokerError)
    )


def error_body(data, status_code: int) -> dict:
    """DRF's error data with a `detail` string always present."""
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return data
    if isinstance(data, dict) and "detail" in data:
        return {**data, "detail": _first_message(data["detail"])}
    errors = list(_flatten(data))
    body = {"detail": _summary(errors, status_code), "errors": errors}
    if isinstance(data, dict):
        body.update({key: value for key, value in data.items() if key not in body})
    return body


def _summary(errors: list[dict], status_code: int) -> str:
    if not errors:
        return "Invalid request." if status_code == 400 else "Request refused."
    first = errors[0]
    where = f"{first['field']}: " if first.get("field") else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Invalid request. {where}{first['reason']}{more}"


def _flatten(data, prefix: str = ""):
    """Nested DRF error data as {"field", "reason"} items."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}[{key}]" if prefix else str(key))
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _flatten(value, prefix)
    else:
        item = {"reason": str(data)}
        if prefix and prefix != "non_field_errors":
            item = {"field": prefix, **item}
        yield item


def _first_message(value) -> str:
    return next((item["reason"] for item in _flatten(value)), "Request refused.")


def _retry_after() -> dict:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


# --- URL-level handlers (urls.py: handler400, handler404, handler500) ---


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception, template_name="400.html"):
    if not _is_api(request):
        return defaults.bad_request(request, exception, template_name)
    code, detail = request_refusal(exception) or (400, "Bad request.")
    return JsonResponse({"detail": detail}, status=code)


def page_not_found(request, exception, template_name="404.html"):
    if not _is_api(request):
        return defaults.page_not_found(request, exception, template_name)
    return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)


def server_error(request, template_name="500.html"):
    if not _is_api(request):
        return defaults.server_error(request, template_name)
    return JsonResponse({"detail": "Internal server error."}, status=500)


class OutageMiddleware:
    """503 + Retry-After, instead of a 500, when the database or Redis is down.

    For the views DRF does not wrap: the HTML upload form (its rate limit lives in the
    Redis cache), pages, /healthz. API views get the same answer from the handler above.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_outage(exception):
            return None
        logger.error("dependency unavailable: %r", exception)
        if _is_api(request):
            response = JsonResponse({"detail": UNAVAILABLE}, status=503)
        else:
            response = HttpResponse(UNAVAILABLE, status=503, content_type="text/plain")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
