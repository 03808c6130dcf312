"""A Stop right after a drain takes the drain's last look as its router check: a router that
reads the drain and the table in force at once (Router.drain_look, every real one) is not
asked its table again before the stop (a ~1-4 ms admin call per batch), and that look holds
the stop back as the router's answer would (engine/draining.py's Looked)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from tests.support.unit_config import shop_config
from zerodown.engine import applying
from zerodown.engine.draining import FRESH, Looked
from zerodown.engine.lifecycle import Phase
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime
from zerodown.model import Backend, RevisionRoute, RoutingTable

ROLLING = "{kind: rolling, max_surge: 1, max_unavailable: 0}"  # 3 batches: 3 drains, 3 stops


class Asked(FakeRouter):
    """Counts the engine's own in_force calls (the proof's thread asks it too)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.asked = 0

    def in_force(self) -> RoutingTable:
        if threading.current_thread() is threading.main_thread():
            self.asked += 1
        return super().in_force()


class Looking(Asked):
    """Reads a drain and the table in force in one look; `hand`: a table set by hand on the
    load balancer that the look finds (in_force does not: only the look can refuse)."""

    hand: RoutingTable | None = None

    def drain_look(self, backend_ids):
        return ({b: (self.drained(b), self.unanswered(b)) for b in backend_ids},
                self.hand or self.table)


def engine(tmp_path, router) -> Engine:
    return Engine(Store(str(tmp_path / "zerodown.db")), FakeRuntime(), router, FakeClock(),
                  shop_config(strategy=ROLLING))


@pytest.mark.parametrize("router, asked", [(Looking, 0), (Asked, 3)])
def test_a_stop_asks_the_table_only_of_a_router_whose_drain_did_not_read_it(tmp_path, router,
                                                                           asked):
    """3 stops: each after its drain; a router without drain_look is asked before each."""
    e = engine(tmp_path, router())
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    e.router.asked = 0
    assert e.run(e.deploy("v2")) is Phase.SUCCEEDED
    assert e.router.asked == asked


def test_the_look_refuses_a_stop_where_its_table_still_routes_the_instance(tmp_path):
    router = Looking()
    e = engine(tmp_path, router)
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    old = {p.instance.id: p.instance for p in e.runtime.spawned}["shop-r1-s0"]
    # by hand: the old instance's address routed under another name
    router.hand = RoutingTable(99, (RevisionRoute("r1", 100, (Backend("by-hand", old.address),)),))
    e.run(e.deploy("v2"))
    refused = [ev.message for ev in e.store.events("shop") if "still routes" in ev.message]
    assert refused and old.address in refused[0], [ev.message for ev in e.store.events("shop")]
    assert "shop-r1-s0" in e.runtime.running("shop")


def test_a_look_stands_only_for_the_stop_right_after_its_drain_in_the_same_plan():
    t = RoutingTable(4)
    looked = Looked(5, "deploy", 3, t, 10.0)
    d = SimpleNamespace(id=5, plan_kind="deploy")
    assert looked.table_for(d, 4, 10.0 + FRESH) is t
    assert looked.table_for(d, 5, 10.0) is None  # a step between
    assert looked.table_for(d, 4, 10.1 + FRESH) is None  # too old: asked again
    assert looked.table_for(SimpleNamespace(id=5, plan_kind="abort"), 4, 10.0) is None
    assert looked.table_for(SimpleNamespace(id=6, plan_kind="deploy"), 4, 10.0) is None


def test_a_table_applied_forgets_the_look(tmp_path):
    e = engine(tmp_path, Looking())
    e.looked = Looked(1, "deploy", 3, RoutingTable(4), 0.0)
    applying.apply(e, RoutingTable(5))
    assert e.looked is None
