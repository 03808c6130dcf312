"""haproxy_render.py and haproxy_runtime_api.py: tables in, HAProxy configuration and commands out.

Golden files in tests/unit/golden/haproxy/; after a deliberate change of the
output, regenerate them with ZERODOWN_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import dataclasses

import subprocess
from pathlib import Path

import pytest

from zerodown.model import Backend, HealthCheck, RevisionRoute, RoutingTable, Rule, Sticky
from zerodown.routers import haproxy_render as r
from zerodown.routers import haproxy_runtime_api as ra
from zerodown.routers import haproxy_tls
from zerodown.tls_config import NamedCert, TlsSettings
from tests.support.certs import TestCA
from zerodown.routers.haproxy_cli import parse_proc
from zerodown.routers.haproxy_regex import cli_safe_regex, literal_regex
from tests.support.golden import assert_golden
from tests.support.installed import needs

GOLDEN = Path(__file__).parent / "golden" / "haproxy"
SETTINGS = r.Settings("shop", "127.0.0.1:8080", "/srv/zd", "/srv/zd/haproxy.sock")


def golden(name: str, text: str) -> None:
    assert_golden(GOLDEN / name, text)


def b(name: str, port: int, weight: int = 1) -> Backend:
    return Backend(f"shop-{name}", f"127.0.0.1:{port}", weight)


CANARY = RoutingTable(7, (
    RevisionRoute("r1", 90, (b("r1-s0", 41001), b("r1-s1", 41002))),
    RevisionRoute("r2", 10, (b("r2-s2", 41003),))),
    (Rule("r2", header="X-Canary", equals="1"), Rule("r2", header="X-Canary", regex="^be ta;"),
     Rule("r2", cookie="beta", regex="^yes$")),
    Sticky("cookie", "zd_split", 3600), HealthCheck("/healthz", 0.5, 0.25, 2, 1))
HASHED = RoutingTable(3, (RevisionRoute("r1", 66.67, (b("r1-s0", 41001),)),
                          RevisionRoute("r2", 33.33, (b("r2-s1", 41002, 500),)),
                          RevisionRoute("r3", 0, (b("r3-s2", 41003),))),
                      (Rule("r3", cookie="tester", equals="a b"),), Sticky("header", "X-User"))


@pytest.mark.parametrize("name,table", [("canary", CANARY), ("hashed", HASHED),
                                        ("empty", RoutingTable(1))])
def test_configuration_and_maps_match_the_golden_files(name, table):
    layout = r.plan_layout(table, None)
    golden(f"{name}.cfg", r.render_config(SETTINGS, layout, table))
    golden(f"{name}-maps.txt", "".join(f"# {f}\n{r.map_text(e)}"
                                       for f, e in r.map_files(table, layout).items()))


@needs("haproxy")
@pytest.mark.parametrize("table", [CANARY, HASHED, RoutingTable(1)])
def test_haproxy_accepts_the_generated_configuration(tmp_path, table):
    layout = r.plan_layout(table, None)
    settings = r.Settings("shop", "127.0.0.1:8080", str(tmp_path), str(tmp_path / "s.sock"))
    for f, entries in r.map_files(table, layout).items():
        (tmp_path / f).write_text(r.map_text(entries))
    (tmp_path / "haproxy.cfg").write_text(r.render_config(settings, layout, table))
    done = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_weighted_split_covers_the_line_in_table_order_and_skips_weight_zero():
    layout = r.plan_layout(HASHED, None)
    assert r.split_entries(HASHED, layout) == [("0:6666", "zd_lane0"), ("6667:9999", "zd_lane1")]
    assert r.split_entries(RoutingTable(1), r.plan_layout(RoutingTable(1), None)) == []


def test_server_weights_keep_their_ratio_within_haproxys_range():
    t = RoutingTable(1, (RevisionRoute("r1", 100, (b("a", 1, 1000), b("b", 2, 500), b("c", 3))),))
    weights = {name: w for (_, name), (_, w) in r.servers(t, r.plan_layout(t, None)).items()}
    assert weights == {"shop-a": 256, "shop-b": 128, "shop-c": 1}


def test_a_revision_keeps_its_lane_and_a_new_one_takes_a_free_lane():
    one = r.plan_layout(RoutingTable(1, (RevisionRoute("r1", 100),)), None)
    two = r.plan_layout(RoutingTable(2, (RevisionRoute("r1", 50), RevisionRoute("r2", 50))), one)
    three = r.plan_layout(RoutingTable(3, (RevisionRoute("r2", 100), RevisionRoute("r3", 0))), two)
    assert (one.lanes, two.lanes, three.lanes) == (
        (("r1", 0),), (("r1", 0), ("r2", 1)), (("r2", 1), ("r3", 0)))
    assert one.shape == two.shape == three.shape  # no reload for any of these


@pytest.mark.parametrize("rules,reload", [
    ((), False),                                                  # fewer rules: empty maps
    ((Rule("r2", header="X-Canary", equals="2"),), False),
    ((Rule("r2", cookie="beta", equals="x"), Rule("r2", header="X-Canary", equals="1")), True),
    ((Rule("r2", header="X-Other", equals="1"),), True),          # a header no line reads
])
def test_the_shape_changes_only_when_the_rules_no_longer_fit(rules, reload):
    before = r.plan_layout(CANARY, None)
    after = r.plan_layout(RoutingTable(8, CANARY.revisions, rules, CANARY.sticky,
                                       CANARY.health_check), before)
    assert (after.shape != before.shape) is reload


def test_more_revisions_than_lanes_or_a_new_sticky_mode_reshape():
    layout = r.plan_layout(RoutingTable(1, (RevisionRoute("r1", 100),)), None, min_lanes=1)
    wider = r.plan_layout(RoutingTable(2, (RevisionRoute("r1", 50), RevisionRoute("r2", 50))),
                          layout, min_lanes=1)
    assert (layout.shape.lanes, wider.shape.lanes) == (1, 2)
    sticky = r.plan_layout(RoutingTable(3, (RevisionRoute("r1", 100),), sticky=Sticky("cookie", "z")),
                           wider, min_lanes=1)
    assert sticky.shape.sticky == Sticky("cookie", "z") and sticky.shape.lanes == 2


def test_regexes_carry_no_blank_or_semicolon_and_mean_the_same():
    import re
    assert literal_regex("a b;c") == r"a\x20b\x3bc"
    assert cli_safe_regex(r"^be ta\;x[ ;]$") == r"^be\x20ta\x3bx[\x20\x3b]$"
    for text in ("a b;c", "1", "x.y*z"):
        assert re.fullmatch(literal_regex(text), text)
    assert re.search(cli_safe_regex(r"^be ta\;x[ ;]$"), "be ta;x ")


def test_server_names_are_the_ids_or_a_safe_stand_in():
    assert r.server_name("shop-r1-s0") == "shop-r1-s0"
    odd = r.server_name("shop r1/s0")
    assert odd.startswith("shop_r1_s0-") and odd != r.server_name("shop_r1/s0")


def live(lane, name, address, weight=1, maint=False):
    return ra.LiveServer(lane, name, address, weight, maint)


def test_runtime_plan_adds_before_the_maps_and_retires_after():
    layout = r.plan_layout(CANARY, None)
    have = [live(0, "shop-r1-s0", "127.0.0.1:41001"), live(0, "shop-r1-s1", "127.0.0.1:49999"),
            live(0, "shop-r0-s9", "127.0.0.1:41000"), live(1, "shop-r2-s2", "127.0.0.1:41003", 3)]
    plan = ra.plan_runtime(CANARY, layout, have, {})
    golden("canary-commands.txt", "\n".join([*plan.before, *(
        f"map {f}: {list(e)}" for f, e in plan.maps), *plan.after]) + "\n")
    assert plan.after == ("set server zd_lane0/shop-r0-s9 state maint",)


def test_the_same_table_twice_needs_no_command():
    layout = r.plan_layout(CANARY, None)
    have = [live(lane, name, addr, w) for (lane, name), (addr, w) in r.servers(CANARY, layout).items()]
    assert ra.plan_runtime(CANARY, layout, have, r.map_files(CANARY, layout)).empty()


def test_only_idle_servers_out_of_the_table_may_be_deleted():
    layout = r.plan_layout(CANARY, None)
    have = [live(0, "gone-a", "127.0.0.1:1", maint=True), live(0, "gone-b", "127.0.0.1:2", maint=True),
            live(0, "shop-r1-s0", "127.0.0.1:41001")]
    assert ra.deletable(have, CANARY, layout, {(0, "gone-b"): 1}) == [(0, "gone-a")]


def test_attach_mode_weights_give_each_revision_its_share():
    t = RoutingTable(1, (RevisionRoute("r1", 90, (b("a", 1), b("b", 2))),
                         RevisionRoute("r2", 10, (b("c", 3),)), RevisionRoute("r3", 0, (b("d", 4),))))
    w = {n: wt for n, (_, wt) in ra.attached_servers(t).items()}
    assert w == {"shop-a": 256, "shop-b": 256, "shop-c": 57, "shop-d": 0}
    assert ra.plan_attached("web", ra.attached_servers(t), [
        live(0, "shop-a", "127.0.0.1:1", 256), live(0, "old", "127.0.0.1:9")])[-1] \
        == "set server web/old state maint"


def test_haproxys_answers_are_parsed():
    state = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
             "...\n3 zd_lane0 1 a 127.0.0.1 2 1 10 10 0 1 0 0 6 0 0 0 - 18081 - 0 0 - - 0\n"
             "4 other 1 x 127.0.0.1 2 0 1 1 0 1 0 0 6 0 0 0 - 80 - 0 0 - - 0\n")
    assert ra.parse_servers_state(state) == [live(0, "a", "127.0.0.1:18081", 10, True)]
    assert ra.parse_map("0x55 0:8999 zd_lane0\n0x56 ^1$ zd_lane1\n\n") == [
        ("0:8999", "zd_lane0"), ("^1$", "zd_lane1")]
    assert ra.parse_stat("# pxname,svname,scur\nzd_lane0,a,2\n") == [
        {"pxname": "zd_lane0", "svname": "a", "scur": "2"}]
    proc = ("#<PID> <type> <reloads>\n1 master 1 [failed: 0]\n# workers\n7 worker 0 0d\n"
            "# old workers\n5 worker 1 0d\n# programs\n")
    assert parse_proc(proc) == ([7], [5])


@pytest.mark.parametrize("options,key", [
    ({"lane": 4}, "router.lane"), ({"lanes": 0}, "router.lanes"), ({"lanes": "4"}, "router.lanes"),
    ({"socket": "/run/haproxy.sock"}, "router.backend"), ({"binary": ""}, "router.binary"),
])
def test_bad_router_options_name_the_key_and_what_is_valid(options, key):
    from zerodown.errors import ConfigError
    from zerodown.routers.haproxy_options import parse_options
    with pytest.raises(ConfigError) as e:
        parse_options(options, "zerodown.yaml")
    assert e.value.key == key and str(e.value).startswith(f"zerodown.yaml: {key}: ")


def test_a_reserved_shape_carries_a_strategy_through_without_a_reload():
    """The preview header, match rules and sticky split of the configured strategy are in
    the first shape; tables that add or drop them later keep it (no reload)."""
    sticky = Sticky("header", "X-User")
    reserve = r.Shape(0, (("header", "X-Zerodown-Preview"), ("header", "X-Canary")), sticky)
    plain = RoutingTable(1, (RevisionRoute("r1", 100, (Backend("a", "127.0.0.1:1"),)),))
    first = r.plan_layout(plain, None, 4, reserve)
    assert first.shape.rule_sources == reserve.rule_sources and first.shape.sticky == sticky
    assert r.map_files(plain, first)[r.STICKY_MAP] == []  # not sticky yet
    canary = RoutingTable(2, (RevisionRoute("r1", 90, (Backend("a", "127.0.0.1:1"),)),
                              RevisionRoute("r2", 10, (Backend("b", "127.0.0.1:2"),))),
                          (Rule("r2", header="X-Canary", equals="1"),), sticky)
    during = r.plan_layout(canary, first, 4, reserve)
    assert during.shape == first.shape
    assert r.map_files(canary, during)[r.STICKY_MAP] == [("on", "1")]
    promoted = RoutingTable(3, (RevisionRoute("r2", 100, (Backend("b", "127.0.0.1:2"),)),))
    after = r.plan_layout(promoted, during, 4, reserve)
    assert after.shape == first.shape
    assert r.map_files(promoted, after)[r.STICKY_MAP] == []
    other = RoutingTable(4, promoted.revisions, (), Sticky("cookie", "zd"))
    assert r.plan_layout(other, after, 4, reserve).shape.sticky == Sticky("cookie", "zd")


TLS = TlsSettings("/etc/zd/shop.pem", "/etc/zd/shop.key",
                  (NamedCert(("api.example.com", "*.api.example.com"), "/etc/zd/api.pem",
                             "/etc/zd/api.key"),), "0.0.0.0:80")


def test_tls_settings_render_a_crt_list_an_ssl_bind_and_a_308_redirect():
    settings = r.Settings("shop", "0.0.0.0:443", "/srv/zd", "/srv/zd/haproxy.sock", tls=TLS)
    layout = r.plan_layout(CANARY, None)
    golden("tls.cfg", r.render_config(settings, layout, CANARY))
    golden("tls.crt-list", haproxy_tls.crt_list_text(TLS, "/srv/zd"))
    assert haproxy_tls.pem_files(TLS) == [("tls-0.pem", "/etc/zd/shop.pem", "/etc/zd/shop.key"),
                                          ("tls-1.pem", "/etc/zd/api.pem", "/etc/zd/api.key")]


def test_tls_http2_offers_h2_first_on_the_ssl_bind():
    assert " alpn http/1.1 " in haproxy_tls.bind_options(TLS, "/srv/zd")
    h2 = haproxy_tls.bind_options(dataclasses.replace(TLS, http2=True), "/srv/zd")
    assert " alpn h2,http/1.1 " in h2


@needs("haproxy")
def test_haproxy_accepts_the_tls_configuration_with_real_certificates(tmp_path):
    ca = TestCA(tmp_path / "ca")
    shop, api = ca.leaf("shop.test"), ca.leaf("api.test", "*.api.test")
    tls = TlsSettings(str(shop.cert), str(shop.key),
                      (NamedCert(("api.test", "*.api.test"), str(api.cert), str(api.key)),),
                      "127.0.0.1:8081", http2=True)
    settings = r.Settings("shop", "127.0.0.1:8443", str(tmp_path), str(tmp_path / "s.sock"), tls=tls)
    layout = r.plan_layout(CANARY, None)
    for f, entries in r.map_files(CANARY, layout).items():
        (tmp_path / f).write_text(r.map_text(entries))
    for name, cert, key in haproxy_tls.pem_files(tls):
        (tmp_path / name).write_text(Path(cert).read_text() + Path(key).read_text())
    (tmp_path / haproxy_tls.CRT_LIST).write_text(haproxy_tls.crt_list_text(tls, str(tmp_path)))
    (tmp_path / "haproxy.cfg").write_text(r.render_config(settings, layout, CANARY))
    done = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
