"""router.response_timeout / connect_timeout: one setting, said in each load balancer's words."""

from __future__ import annotations

import pytest

from zerodown.errors import ConfigError
from zerodown.model import RoutingTable
from zerodown.routers import (embedded_options, haproxy_options, haproxy_render, nginx_options,
                              nginx_render)


def test_the_embedded_proxy_gets_them_as_flags():
    opts = embedded_options.parse_options({"response_timeout": "2500ms", "connect_timeout": 1,
                                           "queue_timeout": "10s"})
    assert opts.proxy_args() == ["--response-timeout=2.5", "--connect-timeout=1",
                                 "--queue-timeout=10"]
    assert embedded_options.parse_options({}).proxy_args() == []


def test_haproxy_gets_timeout_server_and_retries_on_it_except_for_unsafe_methods():
    opts = haproxy_options.parse_options({"response_timeout": "3s", "connect_timeout": "500ms"})
    settings = haproxy_render.Settings("shop", "127.0.0.1:8080", "/srv", "/srv/s.sock",
                                       timeout_server=opts["response_timeout"],
                                       timeout_connect=opts["connect_timeout"])
    table = RoutingTable(1)
    text = haproxy_render.render_config(settings, haproxy_render.plan_layout(table, None), table)
    assert "timeout server 3000ms" in text
    assert "timeout connect 500ms" in text
    assert "retry-on conn-failure empty-response response-timeout" in text
    assert "disable-l7-retry unless { method GET HEAD PUT DELETE OPTIONS }" in text


def test_nginx_gets_proxy_read_and_connect_timeouts():
    opts = nginx_options.parse_options({"response_timeout": "2s", "connect_timeout": "1s"})
    text = nginx_render.render_http(RoutingTable(1), "127.0.0.1:8080", service="shop",
                                    options=opts, access_log="a.log")
    assert "proxy_read_timeout 2s;" in text and "proxy_connect_timeout 1s;" in text
    assert "proxy_next_upstream error timeout;" in text


@pytest.mark.parametrize("parse", [
    lambda o: embedded_options.parse_options(o),
    lambda o: haproxy_options.parse_options(o),
    lambda o: nginx_options.parse_options(o)], ids=["embedded", "haproxy", "nginx"])
def test_a_bad_value_is_refused_naming_the_key(parse):
    with pytest.raises(ConfigError, match="router.response_timeout"):
        parse({"response_timeout": "soon"})
