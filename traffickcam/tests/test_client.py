"""The client address: the same reading for the audit and for the rate limits."""

import pytest

from traffickcam.client import client_address, client_network


@pytest.mark.parametrize(
    ("remote_addr", "address", "network"),
    [
        ("203.0.113.5", "203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
        ("::ffff:203.0.113.5", "203.0.113.5", "203.0.113.5"),
        ("", None, "unknown"),
        ("not-an-ip", None, "not-an-ip"),
    ],
)
def test_address_and_network(rf, remote_addr, address, network):
    request = rf.get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_address(request) == address  # a forwarded-for header is never believed
    assert client_network(request) == network
