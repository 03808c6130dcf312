"""What Engine.run does beside something else rather than after it (issue 14: a rolling
deployment's time above its critical path): the hosts' adopt beside the proof's baseline,
the baseline beside the first batch's starts (awaited before the table changes), the
proof's last reading and its write beside the wait for the last old instances' exit.
Each test makes one side wait (bounded) for the other to have begun: in the old order it
would wait out its bound and say so."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from tests.support.unit_config import shop_config
from zerodown.engine.lifecycle import Phase
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime

BOUND = 3.0  # seconds one side waits for the other before it gives up


def awaited(condition, bound: float = BOUND) -> bool:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def engine_of(tmp_path, runtime: FakeRuntime, router: FakeRouter, workers=None) -> Engine:
    store = Store(str(tmp_path / "zerodown.db"))
    return Engine(store, runtime, router, FakeClock(),
                  shop_config(strategy="{kind: rolling, max_surge: 3, max_unavailable: 0}"),
                  workers=workers)


class SlowStops(FakeRuntime):
    """Stops take a while (in the background, as the ssh runtime's): each one returns only
    once the deployment's proof is written, or after BOUND."""

    stops_slowly = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.store: Store | None = None
        self.proof_before_exit: list[bool] = []

    def stop(self, instance, grace):
        if self.store is not None:
            store = self.store
            self.proof_before_exit.append(awaited(lambda: any(
                (store.proof_state(d.id) or {}).get("proof") is not None
                for d in store.deployments("shop", limit=1))))
        super().stop(instance, grace)


def test_the_proof_is_written_while_the_last_old_instances_exit(tmp_path):
    runtime = SlowStops()
    engine = engine_of(tmp_path, runtime, FakeRouter())
    engine.run(engine.deploy("v1"))
    runtime.store = engine.store
    engine.run(engine.deploy("v2"))
    last = engine.store.deployments("shop", limit=1)[0]
    proof = engine.store.proof_state(last.id)["proof"]
    assert proof is not None and proof["requests"] == 0
    # the first batch's stops run while the deployment goes on (no proof yet: they wait
    # out BOUND); the last batch's exits are awaited with the proof being written beside
    assert runtime.proof_before_exit[-3:] == [True] * 3, runtime.proof_before_exit


class BaselineWaits(FakeRouter):
    """The proof's baseline (the first stats() of a deployment, once `waiting`) waits
    for `seen()` (bounded: whether it came goes into `beside`); the journal says when it
    was read."""

    def __init__(self, seen, **kw):
        super().__init__(**kw)
        self.seen, self.waiting, self.beside = seen, False, []

    def stats(self):
        if self.waiting:
            self.waiting = False
            self.beside.append(awaited(self.seen))
            self.journal.append(("baseline",))
        return super().stats()


class AdoptTold(FakeRuntime):
    adopting = False

    def adopt(self, service, recorded=()):
        self.adopting = True
        return super().adopt(service, recorded)


def test_the_hosts_are_asked_what_runs_beside_the_proofs_baseline(tmp_path):
    runtime = AdoptTold()
    router = BaselineWaits(lambda: runtime.adopting)
    engine = engine_of(tmp_path, runtime, router)
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    runtime.adopting, router.waiting = False, True
    engine.run(id)
    assert router.beside == [True]
    assert engine.store.proof_state(id)["baseline"] is not None


def test_the_proofs_baseline_is_read_beside_the_first_starts_and_before_any_route(tmp_path):
    journal: list = []
    runtime = FakeRuntime(journal=journal)
    router = BaselineWaits(lambda: any(e[0] == "start" for e in journal), journal=journal)
    engine = engine_of(tmp_path, runtime, router)
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    journal.clear()
    router.waiting = True
    assert engine.run(id) is Phase.SUCCEEDED
    assert router.beside == [True], "the first start waited for the baseline"
    kinds = [e[0] for e in journal]
    assert kinds.index("baseline") < kinds.index("apply"), "a table changed before it"
    assert engine.store.proof_state(id)["baseline"] is not None
    assert engine.store.proof_state(id)["proof"] is not None


class Crash(BaseException):
    """Not a ZerodownError: nothing on the way may swallow it (as fakes.SimulatedCrash)."""


def test_a_failure_in_the_proofs_end_beside_the_exits_is_raised_by_run(tmp_path):
    class Broken(FakeRouter):
        broken = False

        def stats(self):
            if self.broken and threading.current_thread().name.endswith("its end"):
                raise Crash
            return super().stats()
    router = Broken()
    engine = engine_of(tmp_path, FakeRuntime(), router)
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    original = engine.store.finish

    def finish(*a, **kw):
        router.broken = True  # from the deployment's end on: the proof's last reading
        return original(*a, **kw)
    engine.store.finish = finish
    try:
        engine.run(id)
    except Crash:
        return
    raise AssertionError("the proof's failure in its thread was lost")


class AdoptWaitsForRunning(FakeRuntime):
    """The hosts' adopt answers once the deployment runs (or after BOUND); whether it did."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.path: str | None = None
        self.bound = BOUND
        self.running_before_answer: list[bool] = []

    def adopt(self, service, recorded=()):
        if self.path is not None:
            other = Store(self.path)   # another connection: it sees what was committed
            self.running_before_answer.append(awaited(
                lambda: other.deployments(service, limit=1)[0].phase is Phase.RUNNING,
                self.bound))
            other.close()
        return super().adopt(service, recorded)


def test_a_pending_deployment_starts_running_while_the_hosts_answer_the_adopt(tmp_path):
    runtime = AdoptWaitsForRunning()
    engine = engine_of(tmp_path, runtime, FakeRouter())
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    runtime.path = engine.store.path
    assert engine.run(id) is Phase.SUCCEEDED
    assert runtime.running_before_answer == [True]
    phases = [e.data["to"] for e in engine.store.events(deployment=id, kind="phase")]
    assert phases == ["running", "succeeded"]


def test_with_a_table_to_settle_it_starts_running_only_after_the_reconcile(tmp_path):
    runtime = AdoptWaitsForRunning()
    engine = engine_of(tmp_path, runtime, FakeRouter())
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    store = engine.store   # a crash left a staged table the router may or may not serve
    store.stage_table(id, 0, lambda version: replace(store.routing("shop").table,
                                                     version=version))
    runtime.path, runtime.bound = store.path, 0.5   # (waits it out: not running meanwhile)
    assert engine.run(id) is Phase.SUCCEEDED
    assert runtime.running_before_answer == [False], "settled first, then started"


class ParallelStarts(FakeRuntime):
    """A runtime whose starts run at once (as ssh's); the threads they ran on, by name."""

    parallel = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.threads: list[str] = []

    def start(self, revision, slot):
        self.threads.append(threading.current_thread().name)
        return super().start(revision, slot)


def test_a_batch_starts_on_the_kept_workers_given_and_syncs_on_the_stores(tmp_path,
                                                                         monkeypatch):
    import os
    from concurrent.futures import ThreadPoolExecutor
    runtime = ParallelStarts()
    kept = ThreadPoolExecutor(16, "kept")  # a Controller's (Controller.workers)
    engine = engine_of(tmp_path, runtime, FakeRouter(), kept)
    syncs: list[str] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (
        syncs.append(threading.current_thread().name), real(fd))[1])
    before = set(threading.enumerate())
    engine.run(engine.deploy("v1"))
    engine.run(engine.deploy("v2"))
    assert len(runtime.threads) == 6   # 3 instances of v1, then 3 of v2 (surge 3)
    assert {t.rsplit("_", 1)[0] for t in runtime.threads} == {"kept"}, runtime.threads
    beside = [s for s in syncs if s.startswith("sync of")]
    assert len(beside) == 2 and set(beside) == {"sync of zerodown.db_0"}, syncs
    # kept: 3 starts at once and the proof's first reading beside them; the store's own
    # workers (its syncs, its checkpoints): by name, not by count, which a thread still
    # ending made flaky
    left = [t.name for t in set(threading.enumerate()) - before
            if not t.name.startswith(("kept_", "sync of ", "checkpoint of "))]
    assert left == [], f"threads left per batch: {left}"
    kept.shutdown()
