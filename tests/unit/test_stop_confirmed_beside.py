"""A stop sent in the background (a runtime that `stops_slowly`: the local and ssh ones)
has its row written `stopped` as soon as the stop returned, while the deployment goes on
(engine/stopping.py stop_quietly) — not only when something awaits it, a Start in its
slot or run()'s end. On a fleet the new instances take new slots, so every old instance
of a rolling deployment stayed `stopping` to its end: `status`, the API and the store's
live instances counted processes long gone (the fleet demo's peak: 12 live instances
for 6 with a surge of 1). On fakes: the deployment held at a health check after a stop
returned."""

from __future__ import annotations

import threading

from tests.support.engine_world import World, check_invariants
from tests.support.net import wait_until
from tests.unit.test_unlisted_hosts import HOSTS, Placed, config
from zerodown.engine.lifecycle import Phase

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
