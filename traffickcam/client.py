"""Who is asking: the one reading of a request's client address.

Rate limits, login lockouts and the audit all read it here. `REMOTE_ADDR` is the
client unless it is one of the `TRUSTED_PROXIES` (addresses or networks in the
settings): then `X-Forwarded-For` is read from the right, each hop that is itself a
trusted proxy is skipped, and the first one that is not is the client. A header from
anyone else is ignored, since any client can write one (a fresh rate-limit quota per
request, a false address in the audit).
"""

import ipaddress

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> Address | None:
    """An address (IPv4-mapped IPv6 unwrapped), or None when `text` is not one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def trusted_proxy(address: Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def _forwarded_client(proxy: Address, header: str) -> Address:
    """The right-most hop of `header` that is not a trusted proxy; a hop that is not an
    address stops the walk at the last trusted proxy before it (nothing left of a
    garbled entry can be believed)."""
    client = proxy
    for hop in reversed(header.split(",")):
        address = _parse(hop)
        if address is None:
            return client
        client = address
        if not trusted_proxy(address):
            return address
    return client


def client_address(request) -> str | None:
    """The client's IP address as recorded in the audit (IPv4-mapped IPv6 unwrapped),
    or None when REMOTE_ADDR is missing or not an address."""
    address = _parse(request.META.get("REMOTE_ADDR", ""))
    if address is None:
        return None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and trusted_proxy(address):
        address = _forwarded_client(address, forwarded)
    return str(address)


def client_network(request) -> str:
    """The key a rate limit counts per: the address, IPv6 reduced to its /64 (one host
    usually owns a whole /64); "unknown" when there is no address."""
    address = client_address(request)
    if address is None:
        return request.META.get("REMOTE_ADDR") or "unknown"
    if ipaddress.ip_address(address).version == 4:
        return address
    return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
