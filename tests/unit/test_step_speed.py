"""Steps that wait no longer than they must. A runtime whose calls are round trips to other
hosts (`parallel = True`, the ssh one): a step's instances are started, and probed, at
once, each look one call (`look`); a round of probes does not stretch health.interval;
a drain looks again within milliseconds, then less often."""

from __future__ import annotations

import threading
import time

from tests.support.unit_config import shop_config
from zerodown.engine import health
from zerodown.engine.lifecycle import Phase
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.errors import RuntimeFailure
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime
from zerodown.model import Instance, Revision, Slot

WAIT = 0.15  # seconds a start or a probe of the slow runtime takes (real time)


def config(strategy: str = "{kind: rolling, max_surge: 3, max_unavailable: 0}"):
    return shop_config(health="{interval: 1s, start_timeout: 30s}", strategy=strategy)


class SlowRuntime(FakeRuntime):
    """Each start and probe takes WAIT seconds; counts how many ran at once."""

    parallel = True

    def __init__(self, fail_slot: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.fail_slot = fail_slot
        self.lock = threading.Lock()
        self.now = self.most = 0

    def _busy(self, call):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(WAIT)
            with self.lock:
                return call()
        finally:
            with self.lock:
                self.now -= 1

    def start(self, revision: Revision, slot: Slot) -> Instance:
        if slot.index == self.fail_slot and revision.number > 1:
            self._busy(lambda: None)
            raise RuntimeFailure(f"slot {slot.index}: cannot start")
        return self._busy(lambda: super(SlowRuntime, self).start(revision, slot))

    def healthy(self, instance: Instance, revision: Revision) -> tuple[bool, str]:
        return self._busy(lambda: super(SlowRuntime, self).healthy(instance, revision))


def engine(tmp_path, runtime) -> Engine:
    return Engine(Store(str(tmp_path / "zerodown.db")), runtime, FakeRouter(), FakeClock(),
                  config())


def test_a_steps_instances_start_at_once_on_a_parallel_runtime(tmp_path):
    runtime = SlowRuntime()
    e = engine(tmp_path, runtime)
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    runtime.most = 0
    began = time.monotonic()
    assert e.run(e.deploy("v2")) is Phase.SUCCEEDED
    assert runtime.most == 3, "the three new instances started (and were probed) together"
    assert time.monotonic() - began < 4 * WAIT * 3, "not one after another"
    assert not runtime.violations


def test_a_failed_start_among_parallel_ones_keeps_the_others_and_they_are_stopped(tmp_path):
    runtime = SlowRuntime(fail_slot=4)  # v2's second new slot (3, 4, 5)
    e = engine(tmp_path, runtime)
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    phase = e.run(e.deploy("v2"))
    assert phase is Phase.ROLLED_BACK
    started = [p for p in runtime.spawned if p.instance.revision == 2]
    assert len(started) == 2, "the others of the step did start"
    assert all(not p.alive for p in started), "and were stopped by the rollback: no orphan"
    rows = e.store.instances("shop", live=True)
    assert {r.revision for r in rows} == {1}
    assert all(p.alive for p in runtime.spawned if p.instance.revision == 1)


def test_probes_of_a_parallel_runtime_run_at_once():
    runtime = SlowRuntime(healthy_after=1)
    rev = Revision("shop", 1, "v1", config().app, config().health)
    targets = [(runtime.start(rev, Slot(i)), rev) for i in range(4)]
    runtime.most = 0
    began = time.monotonic()
    health.wait_healthy(runtime, FakeClock(), targets, parallel=8)
    assert runtime.most == 4
    assert time.monotonic() - began < 3 * WAIT


def test_a_round_of_slow_probes_does_not_stretch_the_interval():
    clock = FakeClock()
    sleeps = []
    clock_sleep = clock.sleep
    clock.sleep = lambda s: (sleeps.append(s), clock_sleep(s))

    class Probe(FakeRuntime):
        def healthy(self, instance, revision):
            clock.advance(0.3)  # each probe takes 0.3 s of the clock
            return super().healthy(instance, revision)
    runtime = Probe(healthy_after=3)
    rev = Revision("shop", 1, "v1", config().app, config().health)
    health.wait_healthy(runtime, clock, [(runtime.start(rev, Slot(0)), rev)])
    assert [round(s, 6) for s in sleeps] == [0.7, 0.7], \
        "the next round begins an interval (1 s) after the last began"


class Looking(FakeRuntime):
    """Answers alive and healthy in one call (as the ssh runtime does); counts alive()."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.alive_calls = 0

    def alive(self, instance):
        self.alive_calls += 1
        return super().alive(instance)

    def look(self, instance, revision):
        proc = self._proc(instance)
        if proc is None or not proc.alive:
            return False, False, "gone"
        return (True, *super().healthy(instance, revision))


def test_a_runtime_that_looks_in_one_call_is_not_asked_alive_apart(tmp_path):
    runtime = Looking(healthy_after=2)
    e = engine(tmp_path, runtime)
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    assert e.run(e.deploy("v2")) is Phase.SUCCEEDED
    assert runtime.alive_calls == 0, "neither before a WaitHealthy step nor at each probe"


def test_a_drain_looks_again_within_milliseconds_then_less_often(tmp_path):
    clock = FakeClock()
    sleeps = []
    clock_sleep = clock.sleep
    clock.sleep = lambda s: (sleeps.append(round(s, 6)), clock_sleep(s))
    e = Engine(Store(str(tmp_path / "zerodown.db")), FakeRuntime(), FakeRouter(drain_polls=7),
               clock, config())
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    sleeps.clear()
    assert e.run(e.deploy("v2")) is Phase.SUCCEEDED
    drains = [s for s in sleeps if s < 1]  # health.interval is 1 s
    assert drains[:6] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.25], drains


class BatchRouter(FakeRouter):
    """Answers a whole batch's drain in one reading (drain_state, as the embedded proxy);
    counts those readings and any look at a single backend."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.readings, self.single = [], 0

    def drain_state(self, backend_ids):
        self.readings.append(list(backend_ids))
        return {b: (FakeRouter.drained(self, b), FakeRouter.unanswered(self, b))
                for b in backend_ids}

    def drained(self, backend_id):
        self.single += 1
        return super().drained(backend_id)


def test_a_drain_asks_a_router_that_can_about_its_whole_batch_at_once(tmp_path):
    router = BatchRouter(drain_polls=2)
    e = Engine(Store(str(tmp_path / "zerodown.db")), FakeRuntime(), router, FakeClock(),
               config())
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    assert e.run(e.deploy("v2")) is Phase.SUCCEEDED
    assert router.single == 0, "no look at one backend at a time"
    # surge 3 of 3: one drain of the three old instances, looked at until drained
    assert router.readings == [["shop-r1-s0", "shop-r1-s1", "shop-r1-s2"]] * 3, router.readings


def test_a_reconcile_with_nothing_unowned_does_not_ask_the_load_balancer(tmp_path):
    class Counting(FakeRouter):
        asked = 0

        def in_force(self):
            Counting.asked += 1
            return super().in_force()
    e = Engine(Store(str(tmp_path / "zerodown.db")), FakeRuntime(), Counting(), FakeClock(),
               config())
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    Counting.asked = 0
    e.reconcile()  # every running instance is the store's: no stop to guard
    assert Counting.asked == 0
