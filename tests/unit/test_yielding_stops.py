"""Which stops give way to the deployment's starts (engine/yielding.py): a rolling batch's
old instances, stopped in the background while the plan still starts instances, are
stopped yielding; their priority is given back once the plan's last WaitHealthy is done
(before the deployment waits for their exit); the last batch's stops do not yield."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.unit_config import shop_config
from zerodown.engine.lifecycle import Phase
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime
from zerodown.plan import WaitHealthy

BOUND = 3.0


class YieldingStops(FakeRuntime):
    """Stops in the background (as the ssh runtime's); a yielding one returns once its
    priority was given back (hasten), or after BOUND."""

    stops_slowly = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.stops: list[tuple[str, bool]] = []
        self.hastened: list[tuple[list[str], int | None]] = []  # ids, the cursor then
        self.given_back: set[str] = set()
        self.threads: list[str] = []  # where each hasten ran
        self.engine: Engine | None = None
        self._changed = threading.Condition()

    def stop(self, instance, grace, yielding=False):
        with self._changed:
            self.stops.append((instance.id, yielding))
            if yielding:
                self._changed.wait_for(lambda: instance.id in self.given_back, BOUND)
        super().stop(instance, grace)

    def hasten(self, instances):
        d = self.engine.store.deployments("shop", limit=1)[0] if self.engine else None
        with self._changed:
            self.hastened.append(([i.id for i in instances], d.cursor if d else None))
            self.threads.append(threading.current_thread().name)
            self.given_back.update(i.id for i in instances)
            self._changed.notify_all()


def test_the_first_batchs_stops_yield_until_the_last_batch_is_healthy(tmp_path):
    runtime = YieldingStops()
    engine = Engine(Store(str(tmp_path / "zerodown.db")), runtime, FakeRouter(), FakeClock(),
                    shop_config(strategy="{kind: rolling, max_surge: 2, max_unavailable: 0}",
                                instances="4"))
    engine.run(engine.deploy("v1"))
    runtime.engine = engine
    began = time.monotonic()
    id = engine.deploy("v2")
    engine.run(id)
    assert time.monotonic() - began < BOUND, "a yielding stop waited out its bound"
    steps = engine.store.deployment(id).steps
    last_wait = max(i for i, s in enumerate(steps) if isinstance(s, WaitHealthy))
    first, last = ["shop-r1-s0", "shop-r1-s1"], ["shop-r1-s2", "shop-r1-s3"]
    assert sorted(runtime.stops) == [(n, True) for n in first] + [(n, False) for n in last]
    assert len(runtime.hastened) == 1
    ids, cursor = runtime.hastened[0]
    assert sorted(ids) == first
    assert cursor is not None and cursor > last_wait, "given back once nothing more starts"
    assert all(s.finished_at for s in engine.store.steps(id))


def test_a_runtime_without_hasten_is_never_asked_to_yield(tmp_path):
    class Plain(FakeRuntime):
        stops_slowly = True

        def stop(self, instance, grace):  # no `yielding`: a call with it would fail
            super().stop(instance, grace)
    runtime = Plain()
    engine = Engine(Store(str(tmp_path / "zerodown.db")), runtime, FakeRouter(), FakeClock(),
                    shop_config(strategy="{kind: rolling, max_surge: 2, max_unavailable: 0}",
                                instances="4"))
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    assert engine.run(id) is Phase.SUCCEEDED, engine.store.deployment(id).error


def test_the_priorities_go_back_on_a_kept_worker_when_the_engine_has_them(tmp_path):
    """Not on a thread started for it, which the next step (the route) would wait behind."""
    runtime = YieldingStops()
    with ThreadPoolExecutor(2, "kept") as workers:
        engine = Engine(Store(str(tmp_path / "zerodown.db")), runtime, FakeRouter(),
                        FakeClock(), shop_config(strategy="{kind: rolling, max_surge: 2, "
                                                          "max_unavailable: 0}", instances="4"),
                        workers=workers)
        engine.run(engine.deploy("v1"))
        assert engine.run(engine.deploy("v2")) is Phase.SUCCEEDED
    assert len(runtime.threads) == 1 and runtime.threads[0].startswith("kept"), runtime.threads
