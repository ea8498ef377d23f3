"""The one function that says who the client is, for every rate limit and the login lockout."""

import pytest
from django.test import RequestFactory

from smartaccounts.ratelimits import client_address, client_key


def request(remote="192.0.2.10", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_client_is_remote_addr_whatever_the_header_says(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request(forwarded="203.0.113.5")) == "192.0.2.10"
    assert client_address(request(forwarded="garbage, 203.0.113.5")) == "192.0.2.10"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the client wrote 6.6.6.6; the proxy appended the rest
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "192.0.2.10"),  # fewer entries than proxies: it did not come through them
        (1, "", "192.0.2.10"),
        (1, "6.6.6.6, not-an-address", "192.0.2.10"),
        (1, "6.6.6.6,203.0.113.5:51234", "203.0.113.5"),  # a proxy that writes the port too
        (1, "[2001:db8::7]:51234", "2001:db8::7"),
    ],
)
def test_behind_trusted_proxies_the_client_is_read_from_the_right(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_address(request(forwarded=forwarded)) == expected


def test_ipv6_clients_are_counted_per_64_network(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    one = client_key(request(remote="2001:db8:1:2:aaaa::1"))
    other = client_key(request(remote="2001:db8:1:2:bbbb::9"))
    assert one == other == "2001:db8:1:2::"
    assert client_key(request(remote="2001:db8:1:3::1")) != one
    assert client_key(request(remote="::ffff:192.0.2.44")) == "192.0.2.44"
    assert client_key(request(remote="192.0.2.44")) == "192.0.2.44"
