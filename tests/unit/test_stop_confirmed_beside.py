"""A stop sent in the background (a runtime that `stops_slowly`: the local and ssh ones)
has its row written `stopped` as soon as the stop returned, while the deployment goes on
(engine/stopping.py stop_quietly) — not only when something awaits it, a Start in its
slot or run()'s end. On a fleet the new instances take new slots, so every old instance
of a rolling deployment stayed `stopping` to its end: `status`, the API and the store's
live instances counted processes long gone (the fleet demo's peak: 12 live instances
for 6 with a surge of 1). On fakes: the deployment held at a health check after a stop
returned."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from tests.support.engine_world import World, check_invariants
from tests.support.net import wait_until
from tests.unit.test_unlisted_hosts import HOSTS, Placed, config
from zerodown.engine.lifecycle import Phase
from zerodown.errors import RuntimeFailure

BOUND = 10.0  # seconds the held health check waits for the test at most


class HeldAfterAStop(Placed):
    """Stops in the background; the first health check of v2 after a stop returned waits
    until the test lets it go."""

    stops_slowly = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.stopped: list[str] = []
        self.held, self.go = threading.Event(), threading.Event()

    def stop(self, instance, grace):
        super().stop(instance, grace)
        self.stopped.append(instance.id)

    def healthy(self, instance, revision):
        if revision.version == "v2" and self.stopped and not self.held.is_set():
            self.held.set()
            self.go.wait(3 * BOUND)  # past the test's own wait
        return super().healthy(instance, revision)


def test_a_stop_that_returned_is_written_stopped_while_the_deployment_goes_on(tmp_path):
    world = World(tmp_path)
    world.runtime = HeldAfterAStop(healthy_after=2, faults=world.faults, journal=world.journal)
    e = world.engine(config(HOSTS))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    ran: list[Phase] = []
    run = threading.Thread(target=lambda: ran.append(e.run(d)))
    run.start()
    try:
        assert world.runtime.held.wait(BOUND), "no health check of v2 after a stop"
        first = world.runtime.stopped[0]
        ref = next(r.ref for r in e.store.instances("shop").values()
                   if r.ref.name("shop") == first)
        state = lambda: e.store.instances("shop", [ref])[ref].state  # noqa: E731
        assert wait_until(lambda: state() == "stopped", timeout=BOUND,
                          what=f"{first}'s row written stopped while the run goes on"), state()
        live = {r.ref.name("shop") for r in e.store.instances("shop", live=True).values()}
        assert ref.name("shop") not in live, live
        assert run.is_alive() and e.store.deployment(d).phase is Phase.RUNNING
    finally:
        world.runtime.go.set()
        run.join(BOUND)
    assert ran == [Phase.SUCCEEDED]
    check_invariants(world, e.store, 2, len(HOSTS))


class StopHeldOnAHeldRun(Placed):
    """Stops in the background, each held until the test lets it return; the first health
    check of v2 while a stop is in flight waits until the test lets it go (so the run writes
    nothing meanwhile)."""

    stops_slowly = True

    def __init__(self, fails: bool = False, **kw):
        super().__init__(**kw)
        self.fails = fails  # the first stop of v2's deployment fails
        self.stopped: list[str] = []
        self.sent, self.held = threading.Event(), threading.Event()
        self.stop_go, self.go = threading.Event(), threading.Event()

    def stop(self, instance, grace):
        self.sent.set()
        self.stop_go.wait(3 * BOUND)
        if self.fails and self.held.is_set():
            self.fails = False
            raise RuntimeFailure(f"{instance.id}: no answer to its stop")
        super().stop(instance, grace)
        self.stopped.append(instance.id)

    def healthy(self, instance, revision):
        if revision.version == "v2" and self.sent.is_set() and not self.held.is_set():
            self.held.set()
            self.go.wait(3 * BOUND)
        return super().healthy(instance, revision)


@pytest.mark.parametrize("fails", [False, True], ids=["stopped", "stop failed"])
def test_a_stop_whose_row_cannot_be_written_by_its_thread_is_written_by_the_run(
        tmp_path, monkeypatch, fails):
    """The stop's thread could not write its row or its failure's event (the store's write
    lock held past its timeout by another process; a full disk alike): no traceback out of
    the thread, and a stop that returned is written stopped by the run's await instead of
    left `stopping` for the next reconcile."""
    world = World(tmp_path)
    world.runtime = StopHeldOnAHeldRun(fails, healthy_after=2, faults=world.faults,
                                       journal=world.journal)
    e = world.engine(config(HOSTS))
    world.runtime.stop_go.set()
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    world.runtime.stop_go.clear()
    escaped: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    d = e.deploy("v2")
    ran: list[Phase] = []
    run = threading.Thread(target=lambda: ran.append(e.run(d)))
    run.start()
    other = sqlite3.connect(world.path, isolation_level=None)
    try:
        assert world.runtime.held.wait(BOUND), "no health check of v2 while a stop is sent"
        stops = list(e._stopping.values())
        e.store.timeout = 0.2  # the stop's thread waits this long for the write lock
        e.store.db.execute("PRAGMA busy_timeout = 200")
        other.execute("BEGIN IMMEDIATE")  # another process writing, past that
        world.runtime.stop_go.set()
        for thread in stops:
            thread.join(BOUND)
            assert not thread.is_alive()
        other.execute("ROLLBACK")
        e.store.timeout = 30.0
        e.store.db.execute("PRAGMA busy_timeout = 30000")
    finally:
        other.close()
        world.runtime.stop_go.set()
        world.runtime.go.set()
        run.join(BOUND)
    assert escaped == []
    if fails:  # its row stays stopping, live, for the next reconcile to stop
        assert len(ran) == 1
        return
    assert ran == [Phase.SUCCEEDED]
    states = {r.ref.name("shop"): r.state for r in e.store.instances("shop").values()}
    assert all(states[name] == "stopped" for name in world.runtime.stopped), states
    check_invariants(world, e.store, 2, len(HOSTS))
