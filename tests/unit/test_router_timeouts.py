"""router.response_timeout / connect_timeout / queue_timeout / max_conns_per_backend: one
setting, said in each load balancer's words (or refused, saying why, where it has none)."""

from __future__ import annotations

import pytest

from zerodown.errors import ConfigError
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.routers import (embedded_options, haproxy_options, haproxy_render,
                              haproxy_runtime_api, nginx_options, nginx_render)


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


def test_the_embedded_proxy_gets_its_pool_bound_as_a_flag():
    opts = embedded_options.parse_options({"max_conns_per_backend": 8})
    assert opts.proxy_args() == ["--max-conns-per-backend=8"]


def test_haproxy_renders_queue_timeout_and_a_maxconn_on_every_server_it_writes_or_adds():
    opts = haproxy_options.parse_options({"queue_timeout": "1500ms", "max_conns_per_backend": 2})
    settings = haproxy_render.Settings("shop", "127.0.0.1:8080", "/srv", "/srv/s.sock",
                                       timeout_queue=opts["queue_timeout"],
                                       maxconn=opts["max_conns_per_backend"])
    table = RoutingTable(1, (RevisionRoute("r1", 100, (Backend("shop-a", "127.0.0.1:9001"),)),))
    layout = haproxy_render.plan_layout(table, None)
    text = haproxy_render.render_config(settings, layout, table)
    assert "timeout queue 1500ms" in text
    servers = [line for line in text.splitlines() if line.strip().startswith("server ")]
    assert servers and all(" maxconn 2" in line for line in servers), servers
    plan = haproxy_runtime_api.plan_runtime(table, layout, [], {}, settings.maxconn)
    added = [c for c in plan.before if c.startswith("add server ")]
    assert added and all(" maxconn 2" in c for c in added), added
    # left out: as before, no bound (so no queue) and HAProxy's 10s
    plain = haproxy_render.render_config(haproxy_render.Settings(
        "shop", "127.0.0.1:8080", "/srv", "/srv/s.sock"), layout, table)
    assert "timeout queue 10000ms" in plain and "maxconn" not in plain


@pytest.mark.parametrize("options, key, says", [
    ({"queue_timeout": "2s"}, "router.queue_timeout", "max_conns_per_backend"),
    ({"max_conns_per_backend": 0}, "router.max_conns_per_backend", "from 1 to"),
], ids=["queue-without-bound", "zero-bound"])  # attach mode: the test of every attached option
def test_haproxy_queue_options_that_would_do_nothing_are_refused(options, key, says):
    with pytest.raises(ConfigError, match=key) as e:
        haproxy_options.parse_options(options)
    assert says in str(e.value)


ATTACHED_HAPROXY = {"socket": "/run/h.sock", "backend": "app"}
ATTACHED_NGINX = {"config": "/etc/nginx/conf.d/zd.conf", "pid_file": "/run/nginx.pid"}
EXAMPLE = {"response_timeout": "5s", "connect_timeout": "1s", "queue_timeout": "2s",
           "max_conns_per_backend": 4, "lanes": 8, "binary": "/usr/sbin/haproxy",
           "workers": 2, "worker_connections": 1024, "worker_shutdown_timeout": "10s"}


@pytest.mark.parametrize("key", sorted(haproxy_options.MANAGED_ONLY))
def test_an_attached_haproxy_refuses_every_option_only_a_rendered_config_has(key):
    """Attach mode drives your backend over the stats socket: an option that goes into
    the configuration zerodown renders would be silently ignored there."""
    with pytest.raises(ConfigError, match=f"router.{key}") as e:
        haproxy_options.parse_options({**ATTACHED_HAPROXY, key: EXAMPLE[key]})
    assert e.value.key == f"router.{key}" and "attach mode" in str(e.value)
    assert f"remove router.{key}" in str(e.value)
    managed = haproxy_options.parse_options({key: EXAMPLE[key], "max_conns_per_backend": 4})
    assert key in managed  # managed mode renders it


@pytest.mark.parametrize("key", sorted(nginx_options.MANAGED_ONLY))
def test_an_attached_nginx_refuses_every_option_only_its_own_nginx_conf_has(key):
    with pytest.raises(ConfigError, match=f"router.{key}") as e:
        nginx_options.parse_options({**ATTACHED_NGINX, key: EXAMPLE[key]})
    assert e.value.key == f"router.{key}" and "attach mode" in str(e.value)
    assert nginx_options.MANAGED_ONLY[key] in str(e.value)
    nginx_options.parse_options({key: EXAMPLE[key]})  # managed: fine


def test_the_options_attach_mode_uses_are_still_taken():
    assert haproxy_options.parse_options(ATTACHED_HAPROXY)["backend"] == "app"
    o = nginx_options.parse_options({**ATTACHED_NGINX, "response_timeout": "5s",
                                     "connect_timeout": "1s", "keepalive_timeout": "75s",
                                     "upstream_keepalive": 8, "nginx": "/usr/sbin/nginx"})
    assert (o.response_timeout, o.connect_timeout, o.attached) == (5.0, 1.0, True)


@pytest.mark.parametrize("key", ["queue_timeout", "max_conns_per_backend"])
def test_nginx_refuses_a_queue_it_does_not_have_saying_why(key):
    with pytest.raises(ConfigError, match=f"router.{key}") as e:
        nginx_options.parse_options({key: "2s" if key == "queue_timeout" else 4})
    assert "no upstream queue" in str(e.value) or "without a queue" in str(e.value)
    assert "NGINX Plus" in str(e.value)


def test_body_timeout_is_the_embedded_proxys_flag_and_nginxs_client_body_timeout():
    assert embedded_options.parse_options({"body_timeout": "90s"}).proxy_args() == \
        ["--body-timeout=90"]
    opts = nginx_options.parse_options({"body_timeout": "2500ms"})
    text = nginx_render.render_http(RoutingTable(1), "127.0.0.1:8080", service="shop",
                                    options=opts, access_log="a.log")
    assert "    client_body_timeout 2500ms;\n" in text
    plain = nginx_render.render_http(RoutingTable(1), "127.0.0.1:8080", service="shop",
                                     options=nginx_options.parse_options({}), access_log="a.log")
    assert "client_body_timeout" not in plain  # left out: nginx's own 60s, as before
    attached = nginx_options.parse_options({**ATTACHED_NGINX, "body_timeout": "30s"})
    assert attached.body_timeout == 30.0  # a server-level directive: the include file has it


@pytest.mark.parametrize("parse", [
    lambda o: embedded_options.parse_options(o),
    lambda o: nginx_options.parse_options(o)], ids=["embedded", "nginx"])
@pytest.mark.parametrize("value", ["soon", 0, "48h"])
def test_a_bad_body_timeout_is_refused_naming_the_key(parse, value):
    with pytest.raises(ConfigError, match="router.body_timeout"):
        parse({"body_timeout": value})


def test_haproxy_refuses_body_timeout_saying_why():
    with pytest.raises(ConfigError, match="router.body_timeout") as e:
        haproxy_options.parse_options({"body_timeout": "30s"})
    assert "timeout client" in str(e.value) and "kind embedded or nginx" in str(e.value)
