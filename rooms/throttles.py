"""Rate limits keyed on the client's network address (`traffickcam.client`)."""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from traffickcam.client import client_network


class ClientAddressRateThrottle(SimpleRateThrottle):
    """A per-address quota for `scope`, from REST_FRAMEWORK's DEFAULT_THROTTLE_RATES."""

    def get_rate(self):
        # Read at request time (not import time) so a changed setting takes effect.
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_network(request)}


class ReceiptRateThrottle(ClientAddressRateThrottle):
    """Anonymous status look-ups (GET /api/submissions/{receipt}/): RECEIPT_RATE."""

    scope = "receipts"

    def get_rate(self):
        return getattr(settings, "RECEIPT_RATE", "120/hour")


class UploadRateThrottle(ClientAddressRateThrottle):
    scope = "uploads"

    def allow_request(self, request, view):
        # Only attempts to upload spend the quota, not a look at the browsable API.
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
