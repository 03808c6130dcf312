"""A Stop step's intent synced beside its stops (a runtime that stops once: engine/steps.py
`stop`) can be taken by a power loss after the SIGTERM went out. The host's mark of that
stop (hosts/stop_once.py) stands in for it: the next reconcile writes the row `stopping`
before anything is planned, so no plan (an abort's, a rollback's, the next deployment's)
counts on a process that is exiting, and its stop is awaited as any unconfirmed one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.engine_world import World, config
from zerodown.engine.records import Change
from zerodown.runtimes.release import instance_of


def test_a_host_s_stop_mark_is_reported_with_the_instance_it_found():
    entry = {"service": "shop", "revision": 1, "slot": 0, "host": "local",
             "address": "127.0.0.1:4100", "pid": 7}
    assert not instance_of(entry).stopping
    marked = {**entry, "stopping": {"sent": 12.5, "grace": 10, "at": 1.0}}
    assert instance_of(marked, "app1").stopping


@pytest.mark.parametrize("lost", ["draining", "routed"])
def test_an_instance_its_host_is_stopping_is_stopping_though_the_store_lost_the_intent(
        tmp_path, lost):
    """`routed`: the route-out's record (lazy) lost with the intent, synced by the same
    sync; the stop was guarded (the load balancer no longer routed to it)."""
    world, cfg = World(tmp_path), config(3)
    e = world.engine(cfg)
    e.run(e.deploy("v1"))
    proc = next(p for p in world.runtime.processes.values() if p.alive)
    ref = proc.instance.ref
    # Out of the table, drained, SIGTERMed and marked by its host; the intent lost with
    # the power: the store still has it live, an instance a plan may count on.
    e.store.set_instances("shop", [Change(ref, lost)])
    proc.instance = replace(proc.instance, stopping=True)
    e = world.engine(cfg)
    e.reconcile()
    row = e.store.instances("shop", [ref])[ref]
    assert row.state == "stopped", row
    assert not proc.alive, "its stop was sent again (on a real host: the first awaited)"
    state = e.store.service_state("shop")
    assert ref not in state.routed + state.unrouted
    said = [ev.message for ev in e.store.events("shop", kind="instance.stopping")]
    assert any(ref.name("shop") in m for m in said), said
