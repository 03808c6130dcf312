"""Routing table -> nginx config (zerodown/routers/nginx_render.py): golden files, cases, `nginx -t`.

Regenerate the golden files after an intended change of the rendering:
    ZERODOWN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_nginx_render.py
and read the diff before committing it.
"""

from __future__ import annotations

import dataclasses

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from zerodown.errors import ConfigError, TableError
from zerodown.model import Backend, HealthCheck, RevisionRoute, RoutingTable, Rule, Sticky
from zerodown.routers.nginx_options import NginxOptions, parse_options
from zerodown.routers.nginx_render import (_weighted, quote, read_meta, render_http, render_main,
                                           routing_text)
from tests.support.certs import TestCA
from tests.support.golden import assert_golden
from zerodown.tls_config import NamedCert, TlsSettings

GOLDEN = Path(__file__).parent / "golden" / "nginx"
LISTEN = "127.0.0.1:18080"


def rev(name: str, weight: float, *ports: int) -> RevisionRoute:
    return RevisionRoute(name, weight, tuple(Backend(f"shop-{name}-s{i}", f"127.0.0.1:{p}")
                                             for i, p in enumerate(ports)))


CANARY = RoutingTable(3, (rev("r1", 90, 41001, 41002), rev("r2", 10, 41003)),
                      (Rule("r2", header="X-Canary", equals="1"),
                       Rule("r2", cookie="beta", regex="^yes$")),
                      Sticky("cookie", "zd_split", 3600))

CASES: dict[str, tuple[RoutingTable, NginxOptions]] = {
    "empty": (RoutingTable(1), NginxOptions()),
    "one_revision": (RoutingTable(2, (rev("r1", 100, 41001, 41002),)), NginxOptions()),
    "split_90_10": (RoutingTable(3, (rev("r1", 90, 41001, 41002), rev("r2", 10, 41003))),
                    NginxOptions()),
    "canary_rules_sticky_cookie": (CANARY, NginxOptions()),
    "rules_only_weight_0": (RoutingTable(4, (rev("r1", 100, 41001), rev("r2", 0, 41002)),
                                         (Rule("r2", header="X-Tester", regex=r'^(a|b)\d+"$'),
                                          Rule("r2", header="X-Odd", equals="~not-a-regex"),
                                          Rule("r1", cookie="group", equals="default"))),
                            NginxOptions()),
    "sticky_header_thirds": (RoutingTable(5, (rev("r1", 100 / 3, 41001), rev("r2", 100 / 3, 41002),
                                              rev("r3", 100 / 3, 41003)),
                                          sticky=Sticky("header", "X-User-Id")), NginxOptions()),
    "sticky_cookie_hash": (RoutingTable(6, (rev("r1", 75, 41001), rev("r2", 25, 41002)),
                                        sticky=Sticky("cookie-hash", "session")), NginxOptions()),
    "no_backends_and_health": (RoutingTable(7, (rev("r1", 50, 41001), rev("r2", 50)),
                                            (Rule("r2", header="X-New", equals="1"),),
                                            health_check=HealthCheck(interval=2.0, fall=3)),
                               NginxOptions()),
    "options": (RoutingTable(8, (rev("r1", 100, 41001),)),
                NginxOptions(workers="2", keepalive_timeout=2.5, upstream_keepalive=0,
                             worker_shutdown_timeout=10, keepalive_requests=100,
                             body_timeout=45.0)),
}


def managed(table: RoutingTable, options: NginxOptions, user: str | None = None) -> str:
    http = render_http(table, LISTEN, service="shop", options=options, access_log="access.log")
    return render_main(http, options=options, user=user)


def attached(table: RoutingTable) -> str:
    return render_http(table, LISTEN, service="shop-2", options=NginxOptions(),
                       access_log="/var/lib/zerodown/shop/nginx/access.log")


def rendered() -> dict[str, str]:
    out = {f"{name}.conf": managed(*case) for name, case in CASES.items()}
    out["run_as_root.conf"] = managed(RoutingTable(9), NginxOptions(), user="root")
    out["attach_include.conf"] = attached(CANARY)
    out["tls.conf"] = render_main(render_http(CANARY, "127.0.0.1:8443", service="shop",
                                              options=NginxOptions(), access_log="access.log",
                                              tls=TLS), options=NginxOptions())
    out["tls_http2.conf"] = render_main(render_http(
        CANARY, "127.0.0.1:8443", service="shop", options=NginxOptions(),
        access_log="access.log", tls=dataclasses.replace(TLS, http2=True)), options=NginxOptions())
    out["shadow_mirror.conf"] = render_main(render_http(  # a shadow's comparator mirrored to
        CANARY, LISTEN, service="shop", options=NginxOptions(), access_log="access.log",
        mirror="127.0.0.1:41999", mirror_percent=12.5), options=NginxOptions())
    return out


TLS = TlsSettings("/etc/zd/shop.pem", "/etc/zd/shop.key",
                  (NamedCert(("api.example.com", "*.api.example.com"), "/etc/zd/api.pem",
                             "/etc/zd/api.key"),), "127.0.0.1:8080")


@pytest.mark.parametrize("name", sorted(rendered()))
def test_golden(name):
    assert_golden(GOLDEN / name, rendered()[name])


def test_every_golden_file_is_rendered():
    assert {p.name for p in GOLDEN.glob("*.conf")} == set(rendered())


@pytest.mark.parametrize("name, table_options", sorted(CASES.items()))
def test_the_table_travels_inside_the_text(name, table_options):
    table, options = table_options
    meta = read_meta(managed(table, options))
    assert meta is not None and (meta.table, meta.listen, meta.service) == (table, LISTEN, "shop")


def test_a_new_version_of_the_same_routing_renders_the_same_routing_text():
    table, options = CASES["canary_rules_sticky_cookie"]
    newer = RoutingTable(table.version + 1, table.revisions, table.rules, table.sticky)
    a, b = managed(table, options), managed(newer, options)
    assert a != b and routing_text(a) == routing_text(b)
    moved = RoutingTable(table.version + 1, (rev("r1", 80, 41001, 41002), rev("r2", 20, 41003)),
                         table.rules, table.sticky)
    assert routing_text(managed(moved, options)) != routing_text(a)


@pytest.mark.parametrize("weights, shares", [
    ([100], [("*", "u0")]),
    ([90, 10], [("90%", "u0"), ("*", "u1")]),
    ([100 / 3] * 3, [("33.33%", "u0"), ("33.34%", "u1"), ("*", "u2")]),
    ([0, 100], [("*", "u1")]),
    ([99.999, 0.001], [("100%", "u0")]),   # 0.001 % is below nginx's 0.01 % resolution
    ([0.001, 99.999], [("*", "u1")]),
    ([12.5, 0, 87.5], [("12.5%", "u0"), ("*", "u2")]),
])
def test_weights_become_split_clients_shares(weights, shares):
    table = RoutingTable(1, tuple(rev(f"r{i}", w, 41000 + i) for i, w in enumerate(weights)))
    upstreams = {f"r{i}": f"u{i}" for i in range(len(weights))}
    assert _weighted(table, upstreams) == shares


@pytest.mark.parametrize("table, message", [
    (RoutingTable(1, (rev("r$1", 100, 1),)), "revision names"),
    (RoutingTable(1, (rev("r1", 100, 1),), (Rule("r1", header="X.Dot", equals="1"),)),
     "rules[0].header"),
    (RoutingTable(1, (rev("r1", 100, 1),), (Rule("r1", cookie="a-b", equals="1"),)),
     "rules[0].cookie"),
    (RoutingTable(1, (rev("r1", 100, 1),), sticky=Sticky("cookie", "zd-split")), "sticky.name"),
])
def test_what_nginx_cannot_express_is_refused_with_its_place(table, message):
    with pytest.raises(TableError, match=message.replace(".", r"\.").replace("[", r"\[")):
        managed(table, NginxOptions())


@pytest.mark.parametrize("value, text", [
    ("plain", '"plain"'), ('say "hi"', r'"say \"hi\""'), ("a\\d", r'"a\\d"'),
    ("tab\there", r'"tab\there"')])
def test_quote(value, text):
    assert quote(value) == text


@pytest.mark.parametrize("options, key, message", [
    ({"workers": 0}, "router.workers", '"auto" or a number'),
    ({"keepalive_timeout": "soon"}, "router.keepalive_timeout", "a duration"),
    ({"upstream_keepalive": True}, "router.upstream_keepalive", "an integer"),
    ({"colour": "red"}, "router.colour", "unknown option"),
    ({"config": "/etc/nginx/zd.conf"}, "router.pid_file", "attach mode needs both"),
    ({"main_config": "/etc/nginx/nginx.conf"}, "router.main_config", "only used in attach"),
])
def test_bad_options_name_their_key(options, key, message):
    with pytest.raises(ConfigError, match=message) as e:
        parse_options(options, file="zerodown.yaml", lines={"router": 9})
    assert e.value.key == key and "zerodown.yaml:9" in str(e.value)


def test_good_options():
    o = parse_options({"keepalive_timeout": "1m30s", "config": "/x/zd.conf",
                       "pid_file": "/run/nginx.pid"})
    assert (o.keepalive_timeout, o.attached) == (90.0, True)
    assert parse_options({"workers": 2}).workers == "2"
    assert parse_options({}) == NginxOptions() and not NginxOptions().attached


# --- every golden file is a configuration real nginx accepts ---------------------------

def nginx_binary() -> str:
    found = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed (bash scripts/setup.sh installs it)")
        pytest.skip("nginx is not installed (bash scripts/setup.sh installs it); never skipped under CI")
    return found


@pytest.mark.parametrize("name", sorted(rendered()))
def test_nginx_accepts_the_golden_file(name, tmp_path):
    nginx = nginx_binary()
    (tmp_path / "temp").mkdir()
    conf = tmp_path / "nginx.conf"
    text = (GOLDEN / name).read_text()
    if name.startswith("attach"):  # an http-level include, inside a minimal nginx.conf
        (tmp_path / "zd.conf").write_text(text.replace("/var/lib/zerodown/shop/nginx/",
                                                       f"{tmp_path}/"))
        text = render_main("include zd.conf;\n", options=NginxOptions())
    if name.startswith("tls"):  # the certificates must exist: made here, by openssl
        ca = TestCA(tmp_path / "certs")
        for stem in ("shop", "api"):
            ca.leaf(f"{stem}.test", stem=stem)
            text = text.replace(f"/etc/zd/{stem}.", f"{tmp_path}/certs/{stem}.")
    conf.write_text(text)
    done = subprocess.run([nginx, "-t", "-q", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_router_for_builds_the_nginx_router_and_names_a_bad_option(tmp_path):
    from zerodown import example
    from zerodown.config import parse_config
    from zerodown.routers import router_for
    from zerodown.routers.nginx import NginxRouter
    good = parse_config(example.config_text("shop", LISTEN, router="{kind: nginx, workers: 2}"))
    router = router_for(good, tmp_path)
    assert isinstance(router, NginxRouter) and router.options.workers == "2"
    assert router.conf_path == tmp_path.resolve() / "nginx" / "nginx.conf"
    text = example.config_text("shop", LISTEN, router="{kind: nginx, workers: lots}")
    line = text.splitlines().index("router: {kind: nginx, workers: lots}") + 1
    with pytest.raises(ConfigError, match=f"shop.yaml:{line}: router.workers: must be"):
        parse_config(text, file="shop.yaml")  # validate finds it, before any router starts
