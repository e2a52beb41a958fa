"""Rate limits keyed on the client's network address.

The key is REMOTE_ADDR only. DRF's default identification trusts X-Forwarded-For,
which any client can forge to get a fresh quota per request. Behind a reverse proxy
the deployment must make REMOTE_ADDR the real client address (e.g. the proxy sets it,
or a trusted-proxy middleware rewrites it from the proxy's own header); otherwise
every client shares the proxy's single quota.
"""

import ipaddress

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle


class ClientAddressRateThrottle(SimpleRateThrottle):
    """A per-address quota for `scope`, from REST_FRAMEWORK's DEFAULT_THROTTLE_RATES."""

    def get_rate(self):
        # Read at request time (not import time) so a changed setting takes effect.
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


def client_address(request) -> str:
    """REMOTE_ADDR, with IPv6 reduced to its /64: one host usually owns a whole /64."""
    raw = request.META.get("REMOTE_ADDR", "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)


class UploadRateThrottle(ClientAddressRateThrottle):
    scope = "uploads"

    def allow_request(self, request, view):
        # Only attempts to upload spend the quota, not a look at the browsable API.
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
