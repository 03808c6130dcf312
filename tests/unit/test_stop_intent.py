"""A stop's intent is written before the stop is sent, and `stopped` only once the stop is
confirmed: a controller killed in between leaves the row `stopping`, and the next run
stops what still runs (engine/stopping.py) — on fakes, for a listed host and for one
runtime.hosts no longer lists (the real-process version: tests/component/
test_stop_intent_kill.py)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from tests.support.engine_world import World
from tests.support.net import wait_until
from tests.unit.test_unlisted_hosts import HOSTS, NOW, Placed, config, ref, shortened
from zerodown.commands.service import cmd_down
from zerodown.engine.finishing import Finishing
from zerodown.engine.lifecycle import Phase
from zerodown.fakes import SimulatedCrash
from zerodown.plan import Start, Stop

BOUND = 10.0  # seconds a blocked stop waits for the test at most


class Gate:
    """Shared by a runtime and its restarted copies: while `closed`, a stop waits at it."""

    def __init__(self) -> None:
        self.closed, self.opened, self.waiting = True, threading.Event(), threading.Event()
        self.exited = threading.Event()  # cleared: an open gate's stop waits for it (a slow exit)
        self.exited.set()
        self.sent: list[str] = []  # each stop let through, by instance
        self.only: str | None = None  # closed for this instance only, if set


class BlockedStops(Placed):
    """Stops in the background (as the real runtimes do) that wait at the gate: a stop in
    flight. A controller that died meanwhile never finishes its stop: once the gate opens,
    a stop that waited there stops nothing."""

    stops_slowly = True

    def __init__(self, gate: Gate, **kw):
        super().__init__(**kw)
        self.gate = gate

    def stop(self, instance, grace):
        if self.gate.closed and self.gate.only in (None, instance.id):
            self.gate.waiting.set()
            self.gate.opened.wait(BOUND)
            return  # its controller was killed meanwhile: the stop never happened
        self.gate.sent.append(instance.id)
        self.gate.exited.wait(BOUND)
        super().stop(instance, grace)


def world_of(tmp_path, gate: Gate) -> World:
    world = World(tmp_path)
    world.runtime = BlockedStops(gate, healthy_after=2, faults=world.faults,
                                 journal=world.journal)
    return world


def killed_after_stop_of(engine, d: int, target) -> None:
    """The controller running `engine` dies as soon as the Stop step of `target` is
    recorded finished (its stop sent, in flight): no confirmation, no await."""
    def kill(event):
        if event.kind == "step.finished":
            step = engine.store.deployment(d).steps[event.data["index"]]
            if isinstance(step, Stop) and target in step.instances:
                raise SimulatedCrash("controller killed while a stop is in flight")
    engine.store.listeners.append(kill)


@pytest.mark.parametrize("listed", [HOSTS, NOW], ids=["listed", "unlisted"])
def test_a_controller_killed_while_a_stop_is_in_flight_leaves_it_stopping_then_stopped(
        tmp_path, listed):
    """r1-s1 (on app2) stopped in the background, the controller killed before its exit
    was confirmed. The row was written stopped with the Stop step's end, so the next
    controller took it for stopped: on app2 no longer listed nobody asked app2 again and
    r1-s1 ran there for ever. Now it is `stopping` until confirmed, so the next run asks
    app2 and stops it."""
    gate = Gate()
    world = world_of(tmp_path, gate)
    gate.closed = False
    e = shortened(world) if listed == NOW else world.engine(config(HOSTS))
    if listed == HOSTS:
        assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    gate.closed = True
    d = e.deploy("v2")
    killed_after_stop_of(e, d, ref(1, 1))
    with pytest.raises(SimulatedCrash, match="in flight"):
        e.run(d)
    assert gate.waiting.is_set(), "no stop was in flight: the test proves nothing"
    row = e.store.instances("shop", [ref(1, 1)])[ref(1, 1)]
    assert (row.state, row.runs_on) == ("stopping", "app2"), \
        "taken as stopped while its process may run"
    assert "shop-r1-s1" in world.runtime.running("shop")
    assert "app2" in e.store.live_hosts("shop"), "app2 would not be asked again"

    gate.closed = False  # the next controller's stops go through
    gate.opened.set()    # (the dead one's never happens)
    again = world.engine(config(listed))
    assert again.resume_interrupted() == {d: Phase.SUCCEEDED}
    assert "app2" in world.runtime.asked[-1]
    assert "shop-r1-s1" not in world.runtime.running("shop")
    assert again.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state == "stopped"
    assert not [r for r in again.store.instances("shop", live=True).values()
                if r.ref.revision == 1], "an old row left live"
    said = [ev.message for ev in again.store.events("shop", kind="instance.stopping")]
    assert any(m.startswith("stopping shop-r1-s1 at ") and "never confirmed" in m
               for m in said), said


def test_a_run_ending_in_an_exception_leaves_its_stops_in_flight_stopping(tmp_path):
    """An exception out of the run (here: the load balancer refusing, not a ZerodownError
    the run replans for) while a background stop is in flight: the row stays `stopping`
    (its stop is awaited by no one), and `reconcile` (the controller's start) stops it."""
    gate = Gate()
    world = world_of(tmp_path, gate)
    gate.closed = False
    e = world.engine(config(HOSTS))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    gate.closed = True
    d = e.deploy("v2")

    def fail(event):  # a bug in the run, once r1-s0's stop is in flight
        if event.kind == "step.started" and gate.waiting.is_set():
            raise RuntimeError("a bug")
    e.store.listeners.append(fail)
    with pytest.raises(RuntimeError, match="a bug"):
        e.run(d)
    stopping = {r.ref for r in e.store.instances("shop", live=True).values()
                if r.state == "stopping"}
    assert stopping and all(r.revision == 1 for r in stopping), stopping
    assert {r.name("shop") for r in stopping} <= world.runtime.running("shop")

    gate.closed = False
    gate.opened.set()
    again = world.engine(config(HOSTS))
    again.reconcile()
    rows = again.store.instances("shop", list(stopping))
    assert {rows[r].state for r in stopping} == {"stopped"}
    assert not {r.name("shop") for r in stopping} & world.runtime.running("shop")
    assert again.run(d) is Phase.SUCCEEDED


class Interrupted(Placed):
    """Ctrl-C reaches `zerodown down` while it stops `at` (that stop never sent)."""

    at = "shop-r1-s1"

    def stop(self, instance, grace):
        if instance.id == self.at:
            raise KeyboardInterrupt
        super().stop(instance, grace)


def test_an_interrupted_down_leaves_its_rows_stopping_for_the_next_command(tmp_path, capsys):
    """`down` wrote its rows stopped only after every stop: interrupted, it left them
    routed though their processes were gone or going. Now they are `stopping` before the
    first stop is sent: the next deployment's reconcile stops what still runs, and plans
    from nothing of them."""
    world = World(tmp_path)
    world.runtime = Interrupted(healthy_after=2, faults=world.faults, journal=world.journal)
    e = world.engine(config(HOSTS))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    state = tmp_path / "state"
    state.mkdir()
    ctl = SimpleNamespace(working_config=lambda: config(HOSTS), has_state=lambda: True,
                          state_dir=state, store=lambda: e.store,
                          runtime=lambda cfg: world.runtime, router=lambda cfg: world.router)
    with pytest.raises(KeyboardInterrupt):
        cmd_down(SimpleNamespace(), ctl)
    rows = e.store.instances("shop", live=True)
    assert {r.name("shop"): row.state for r, row in rows.items()} == {
        f"shop-r1-s{i}": "stopping" for i in range(3)}
    assert world.runtime.running("shop") == {"shop-r1-s1"}, "the interrupt came too late"

    world.runtime.at = ""
    again = world.engine(config(HOSTS))
    assert again.run(again.deploy("v2")) is Phase.SUCCEEDED
    assert world.runtime.running("shop") == {f"shop-r2-s{i}" for i in range(3)}
    assert {r.revision for r in again.store.instances("shop", live=True)} == {2}
    # its stop never sent: the event says the stop was decided, not that it was sent
    said = [ev.message for ev in again.store.events("shop", kind="instance.stopping")]
    assert len(said) == 1 and said[0].startswith("stopping shop-r1-s1 at "), said
    assert "decided but never confirmed" in said[0] and " sent" not in said[0], said


def test_stops_finished_beside_are_sent_once_and_awaited_only_by_a_start_in_their_slot(
        tmp_path):
    """The controller daemon's start (daemon/runs.py): its reconcile sends the stop of
    r1-s2 (the last of deployment 2, its controller killed) again and hands it to a
    Finishing instead of awaiting it. The runs sharing it go on meanwhile: their reconcile
    neither stops r1-s2 a second time nor writes its row, deployment 2 ends without
    awaiting it, and deployment 3 waits only at its Start in slot 2 (the fake runtime
    records a start in a slot still running as a violation)."""
    gate = Gate()
    world = world_of(tmp_path, gate)
    gate.closed = False
    e = world.engine(config(HOSTS))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    killed_after_stop_of(e, d, ref(1, 2))
    gate.closed, gate.only = True, "shop-r1-s2"  # (the stops before it go through)
    with pytest.raises(SimulatedCrash, match="in flight"):
        e.run(d)
    gate.closed = False
    gate.exited.clear()  # the next stops take a while
    gate.opened.set()
    sent = len(gate.sent)

    finishing, finished = Finishing(), threading.Event()
    finishing.reconcile(world.engine(config(HOSTS), finishing=finishing), finished.set)
    assert finishing.owned() == {ref(1, 2)} and gate.sent[sent:] == ["shop-r1-s2"]
    again = world.engine(config(HOSTS), finishing=finishing)
    assert again.run(d) is Phase.SUCCEEDED  # its end leaves r1-s2 to the Finishing
    d3 = again.deploy("v3")
    starts = [i for i, step in enumerate(again.store.deployment(d3).steps)
              if isinstance(step, Start) and ref(3, 2) in step.instances]
    assert starts and starts[0] > 0, "no Start in r1-s2's slot after a first step"
    ran: list[Phase] = []
    run = threading.Thread(target=lambda: ran.append(again.run(d3)))
    run.start()
    wait_until(lambda: again.store.deployment(d3).cursor >= starts[0], timeout=BOUND,
               what="deployment 3 at its Start in r1-s2's slot")
    assert again.store.deployment(d3).cursor == starts[0], "the Start did not wait"
    assert run.is_alive() and not finished.is_set()
    row = again.store.instances("shop", [ref(1, 2)])[ref(1, 2)]
    assert row.state == "stopping", "written stopped before its exit"
    gate.exited.set()
    run.join(BOUND)
    assert ran == [Phase.SUCCEEDED]
    assert finished.wait(BOUND) and not finishing.owned()
    assert gate.sent[sent:].count("shop-r1-s2") == 1, gate.sent
    assert again.store.instances("shop", [ref(1, 2)])[ref(1, 2)].state == "stopped"
    assert world.runtime.violations == []
