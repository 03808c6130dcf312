"""`status` says routed only while the load balancer runs; after a partial `zerodown down`
it names the hosts whose instances were left running (docs/fleet.md)."""

from __future__ import annotations

from zerodown.gather import not_routed
from zerodown.render import status_text
from zerodown.views import (InstanceView, ProxyView, RevisionLabel, StatusView, status_dict,
                            status_from_dict)

R1 = RevisionLabel(1, "v1")


def inst(slot: int, state: str, host: str | None = None) -> InstanceView:
    return InstanceView(f"shop-r1-s{slot}", R1, slot, state, "10.0.0.2:9001", 42, host=host)


def test_routed_rows_are_unrouted_while_no_load_balancer_runs():
    rows = (inst(0, "routed"), inst(1, "healthy"), inst(2, "draining"))
    assert not_routed(rows, proxy_running=True) == rows
    assert [i.state for i in not_routed(rows, proxy_running=False)] == [
        "unrouted", "healthy", "draining"]


def test_after_a_partial_down_status_names_the_silent_host_both_ways():
    view = StatusView("shop", "127.0.0.1:8080", R1, ProxyView(False), None,
                      not_routed((inst(1, "routed", "zdf2"),), False), left_by_down=("zdf2",))
    text = status_text(view, 0.0)
    assert " routed" not in text.replace("none is routed", "")  # unrouted, not routed
    assert "left by `zerodown down` on zdf2" in text
    assert "`zerodown down` again once zdf2 answers" in text
    doc = status_dict(view, 0.0)
    assert doc["left_by_down"] == ["zdf2"] and doc["instances"][0]["state"] == "unrouted"
    assert status_from_dict(doc, 0.0).left_by_down == ("zdf2",)
    assert status_dict(StatusView("shop", "127.0.0.1:8080", R1, ProxyView(True), None),
                       0.0)["left_by_down"] == []


def test_unrouted_is_painted_as_a_warning_not_as_routed():
    from zerodown.colour import paint
    assert paint("unrouted") == "\x1b[33munrouted\x1b[0m"


def test_status_of_a_fleet_service_never_deployed_says_where_its_load_balancer_would_run(
        tmp_path):
    """`zerodown status` before the first `up`, with router.host: '(proxy not running on
    lb1)', as after a deployment (it said '(proxy not running)'); nothing asked over SSH."""
    import argparse
    import json
    from zerodown.commands.status import _text
    from zerodown.api.client import Unreachable

    class NoController:
        def text(self, path):
            raise Unreachable("no controller")
    (tmp_path / "zerodown.yaml").write_text(
        "service: shop\nlisten: 10.0.0.11:8080\ninstances: 2\n"
        'app: {command: ["app", "--port", "{port}"]}\n'
        "runtime: {kind: ssh, hosts: [app1, app2]}\nrouter: {kind: haproxy, host: app1}\n")
    for as_json in (False, True):
        args = argparse.Namespace(file=str(tmp_path / "zerodown.yaml"),
                                  state_dir=str(tmp_path / ".zerodown"), json=as_json,
                                  server=None)
        shown = _text(NoController(), args)
        if as_json:
            assert json.loads(shown)["proxy"]["host"] == "app1"
        else:
            assert "(proxy not running on app1)" in shown and "nothing deployed yet" in shown


def test_a_load_balancer_whose_host_goes_silent_after_answering_is_unreachable_not_stopped():
    """HAProxy on router.host answered `show info`, then its stats met silence: status
    says its host does not answer (unknown), not that it is not running."""
    from zerodown.errors import HostFailure
    from zerodown.gather import _proxy

    class Router:
        pid, table = 7, None

        def answers(self):
            return True

        def stats(self):
            raise HostFailure("cannot talk to HAProxy's stats socket /x.sock: host lb1: "
                              "batch has an unknown outcome", "lb1")

    class Ctl:
        def router(self, cfg):
            return Router()

    class Cfg:
        class router:
            host = "lb1"
    view, table, stats = _proxy(Ctl(), Cfg())
    assert not view.running and view.host == "lb1" and table is None and stats is None
    assert view.unreachable.startswith("cannot talk to HAProxy's stats socket"), view
