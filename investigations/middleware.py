"""Investigator responses: never cached, and every refusal in the audit trail.

On the investigator URL prefixes every response (page, API, image, error) gets
`Cache-Control: private, no-store`, and a refused request is recorded: 401/403
("denied"), 404 ("not_found": another team's search or case looks like none) and 429
("throttled"), with the user or anonymous, path, method and status. Successful reads
are audited by the views themselves, with what they showed.

Goes after `AuthenticationMiddleware` (it reads `request.user` once the view has run,
so an API token's user is known too).
"""

import logging

from django.core.cache import cache
from django.db import DatabaseError

from investigations.audit import audit_event
from investigations.models import AuditEntry
from traffickcam.client import client_address

logger = logging.getLogger(__name__)

INVESTIGATOR_PREFIXES = ("/investigate/", "/api/searches/", "/api/cases/", "/api/suggest-mask/")
# Admin pages of investigations' models (teams, the audit trail): not cached either.
PRIVATE_PREFIXES = (*INVESTIGATOR_PREFIXES, "/admin/investigations/")
CACHE_CONTROL = "private, no-store"
# Anonymous refusals: one row per client address and action per minute. The trail is
# append-only for good, so a script probing made-up URLs must not grow it without bound;
# a signed-in user's refusals are all kept (they name who probed).
ANONYMOUS_AUDIT_SECONDS = 60
REFUSALS = {
    401: AuditEntry.Action.DENIED,
    403: AuditEntry.Action.DENIED,
    404: AuditEntry.Action.NOT_FOUND,
    429: AuditEntry.Action.THROTTLED,
}


def is_investigator_path(path: str) -> bool:
    return path.startswith(INVESTIGATOR_PREFIXES)


class InvestigatorResponseMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(PRIVATE_PREFIXES):
            return response
        response["Cache-Control"] = CACHE_CONTROL
        action = REFUSALS.get(response.status_code)
        if action and is_investigator_path(request.path):
            self._record(request, response, action)
        return response

    def _record(self, request, response, action):
        user = getattr(request, "user", None)
        detail = {
            "path": request.path[:500],
            "method": request.method,
            "status": response.status_code,
        }
        address = client_address(request)
        if not (user and user.is_authenticated):
            detail["anonymous"] = True
            if not cache.add(f"audit-anon:{action}:{address}", 1, ANONYMOUS_AUDIT_SECONDS):
                return
        try:
            audit_event(
                user=user,
                action=action,
                client_address=address,
                detail=detail,
            )
        except DatabaseError:  # the refusal stands; the database's outage is logged
            logger.exception("could not record %s %s in the audit trail", action, request.path)
