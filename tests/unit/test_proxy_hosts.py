"""zerodown/proxy/hosts.py: which service a request belongs to, by Host and path prefix."""

from __future__ import annotations

import pytest

from zerodown.errors import UsageError
from zerodown.proxy.hosts import HostTable, Site

SITES = HostTable([Site("shop", ("shop.example.com", "*.shop.example.com")),
                   Site("api", ("example.com",), "/api"),
                   Site("www", ("example.com",)),
                   Site("wild", ("*.example.com",)),
                   Site("docs", ("*.example.com",), "/docs/")])


@pytest.mark.parametrize("host, path, service", [
    (b"shop.example.com", b"/", "shop"),
    (b"SHOP.Example.COM.:8443", b"/cart", "shop"),       # case, final dot and port ignored
    (b"eu.shop.example.com", b"/", "shop"),               # the longest wildcard wins
    (b"example.com", b"/api", "api"),
    (b"example.com", b"/api/v1?x=1", "api"),
    (b"example.com", b"/api?x=1", "api"),
    (b"example.com", b"/apix", "www"),                    # prefixes end at a segment
    (b"example.com", b"/", "www"),
    (b"a.b.example.com", b"/", "wild"),                   # any depth, as nginx
    (b"a.example.com", b"/docs/x", "docs"),
    (b"nope.test", b"/", None),                           # unknown host: 404
    (None, b"/", None),
    (b"example.com.evil.test", b"/", None),
    (b"xexample.com", b"/", None),                        # a suffix is a whole label
])
def test_pick(host, path, service):
    assert SITES.pick(host, path) == service


def test_a_site_without_hosts_takes_every_host_no_other_names():
    t = HostTable([Site("one", ("a.test",)), Site("rest")])
    assert (t.pick(b"a.test", b"/"), t.pick(b"b.test", b"/"), t.pick(None, b"/x")) == \
        ("one", "rest", "rest")


def test_two_services_claiming_the_same_host_and_prefix_are_refused_by_name():
    with pytest.raises(UsageError, match="services a and b both claim host x.test with path "
                                         "prefix /api"):
        HostTable([Site("a", ("x.test",), "/api"), Site("b", ("X.test",), "/api/")])
    with pytest.raises(UsageError, match="must start with /"):
        HostTable([Site("a", ("x.test",), "api")])
