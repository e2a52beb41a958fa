"""Who is asking: the one reading of a request's client address.

REMOTE_ADDR only. DRF's default identification trusts X-Forwarded-For, which any
client can forge (a fresh rate-limit quota per request, a false address in the
audit). Behind a reverse proxy the deployment must make REMOTE_ADDR the real client
address (the proxy sets it, or a trusted-proxy middleware rewrites it from the proxy's
own header); otherwise every client shares the proxy's address.
"""

import ipaddress


def client_address(request) -> str | None:
    """The client's IP address as recorded in the audit (IPv4-mapped IPv6 unwrapped),
    or None when REMOTE_ADDR is missing or not an address."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
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
