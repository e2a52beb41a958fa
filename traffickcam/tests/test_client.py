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


# --- behind trusted proxies (TRUSTED_PROXIES) ---

PROXY = "10.0.0.5"


@pytest.fixture
def behind_proxy(settings):
    from ipaddress import ip_network

    settings.TRUSTED_PROXIES = [ip_network("10.0.0.0/24"), ip_network("fd00::/8")]
    return settings


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "address"),
    [
        (PROXY, "198.51.100.7", "198.51.100.7"),  # the client, as our proxy saw it
        (PROXY, "203.0.113.1, 198.51.100.7", "198.51.100.7"),  # a forged left part ignored
        (PROXY, "198.51.100.7, 10.0.0.9", "198.51.100.7"),  # two proxies of ours
        (PROXY, "::ffff:198.51.100.7", "198.51.100.7"),
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        (PROXY, "10.0.0.9", "10.0.0.9"),  # only proxies: the first of them
        (PROXY, "198.51.100.7, garbage", PROXY),  # garbled: nothing beyond is believed
        (PROXY, "", PROXY),
        ("198.51.100.99", "203.0.113.1", "198.51.100.99"),  # not a proxy of ours: ignored
    ],
)
def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    rf, behind_proxy, remote_addr, forwarded_for, address
):
    request = rf.get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == address


def test_without_trusted_proxies_the_header_is_ignored(rf, settings):
    settings.TRUSTED_PROXIES = []
    request = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert client_address(request) == PROXY


def test_trusted_proxies_setting_refuses_a_typo(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from traffickcam.env import env_networks

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.300")
    with pytest.raises(ImproperlyConfigured, match="10.0.0.300"):
        env_networks("TRUSTED_PROXIES")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::1")
    assert [str(n) for n in env_networks("TRUSTED_PROXIES")] == ["10.0.0.0/8", "2001:db8::1/128"]


def test_upload_rate_limit_counts_each_client_behind_the_proxy(client, hotel, behind_proxy):
    rates = {**behind_proxy.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "2/hour"}
    behind_proxy.REST_FRAMEWORK = {**behind_proxy.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    def post(forwarded_for, remote_addr=PROXY):
        return client.post(
            "/api/submissions/",
            {"hotel": hotel.id},
            REMOTE_ADDR=remote_addr,
            HTTP_X_FORWARDED_FOR=forwarded_for,
        ).status_code

    assert [post("198.51.100.1") for _ in range(3)] == [400, 400, 429]
    assert post("198.51.100.2") == 400  # another traveller behind the same balancer
    # A client reaching us directly cannot buy a fresh quota with a forged header.
    assert [post(f"203.0.113.{i}", remote_addr="198.51.100.3") for i in range(3)] == [
        400,
        400,
        429,
    ]
