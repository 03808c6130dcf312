"""Threads a controller keeps are kept once and let go: the engines one Controller builds
share its workers for a parallel runtime's starts (an engine's own pool started threads at
each deployment's first batch and never shut them down), and the daemon closes the
controller it makes per run and per request (its workers, the runtime's connections, the
store's sync threads), so many deployments through it do not grow its thread count."""

from __future__ import annotations

import threading
import time

from zerodown import controller
from zerodown.controller import Controller
from zerodown.daemon.actions import Actions
from zerodown.daemon.runs import Runner
from zerodown.engine.lifecycle import Phase
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime

YAML = """\
service: shop
listen: 127.0.0.1:18080
instances: 3
app: {command: [app, --port, "{port}"]}
health: {interval: 1s, start_timeout: 5s}
strategy: {kind: rolling, max_surge: 3, max_unavailable: 0}
"""
VERSIONS = ("v1", "v2", "v3", "v4", "v5", "v6")


class ParallelStarts(FakeRuntime):
    """Starts run at once (as the ssh runtime's); the threads they ran on, by name."""

    parallel = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.threads: list[threading.Thread] = []

    def start(self, revision, slot):
        self.threads.append(threading.current_thread())
        return super().start(revision, slot)


def controllers(tmp_path, monkeypatch, runtime: FakeRuntime):
    """A factory of Controllers of one service over the fakes (the daemon's `fresh`)."""
    file = tmp_path / "zerodown.yaml"
    file.write_text(YAML)
    monkeypatch.setattr(controller, "RealClock", FakeClock)
    router = FakeRouter()

    def fresh() -> Controller:
        ctl = Controller(str(file), str(tmp_path / "state"))
        ctl._drivers.update(runtime=runtime, router=router)
        return ctl
    return fresh


def gone(threads, bound: float = 5.0) -> bool:
    """None of `threads` alive by the time `bound` passes (an idle worker ends once woken)."""
    deadline = time.monotonic() + bound
    while any(t.is_alive() for t in threads):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_engines_of_one_controller_share_its_workers_until_it_closes(tmp_path,
                                                                        monkeypatch):
    runtime = ParallelStarts()
    ctl = controllers(tmp_path, monkeypatch, runtime)()
    engines = []  # all alive at once, as the daemon's runner's and its requests' are
    for version in VERSIONS:
        engines.append(ctl.engine())
        assert engines[-1].run(engines[-1].deploy(version)) is Phase.SUCCEEDED
    assert len(runtime.threads) == 3 * len(VERSIONS)  # 3 at once each time (surge 3)
    kept = set(runtime.threads)
    # 3 starts at once, and the proof's first reading on a worker beside the first batch
    assert len(kept) <= 4, f"{len(kept)} threads started for {len(VERSIONS)} engines' starts"
    assert {t.name.rsplit("_", 1)[0] for t in kept} == {"starts"}, kept
    ctl.close()
    assert gone(kept), "the controller's workers outlived it"


def test_an_engine_given_no_workers_ends_its_batchs_own(tmp_path, monkeypatch):
    runtime = ParallelStarts()
    ctl = controllers(tmp_path, monkeypatch, runtime)()
    engine = ctl.engine()
    engine.workers = None  # as an Engine built without a controller
    assert engine.run(engine.deploy("v1")) is Phase.SUCCEEDED
    assert len(runtime.threads) == 3
    assert gone(runtime.threads, bound=0.0), "a batch's own pool outlived it"


def test_deployments_through_the_daemon_leave_no_threads_behind(tmp_path, monkeypatch):
    fresh = controllers(tmp_path, monkeypatch, ParallelStarts())
    actions = Actions(fresh, lambda: None)
    runner = Runner(fresh, "shop", log=lambda text: None)
    store = fresh().open_store()  # the runner's own connection (Runner.run): reads only
    before = set(threading.enumerate())
    for version in VERSIONS:
        id = actions.deploy({"version": version}, "test", "unit")["id"]
        runner._drive(id, store, threading.Event())
        assert store.deployment(id).phase is Phase.SUCCEEDED, runner.error
    left = set(threading.enumerate()) - before
    assert gone(left), f"left behind: {sorted(t.name for t in left if t.is_alive())}"
    store.close()


def test_the_daemons_looks_close_every_controller_they_make(tmp_path, monkeypatch):
    """The watchdog's and the host watch's looks (and the runner's) make a Controller per
    look to keep their store fresh; one that builds drivers (the store file replaced, a
    rebuild asks the runtime) is closed with them, as every other."""
    from zerodown.daemon.watchdog import looking

    class Closed(FakeRuntime):
        closes = 0

        def close(self) -> None:
            Closed.closes += 1
    fresh = controllers(tmp_path, monkeypatch, Closed())
    made: list[Controller] = []
    stop, looks = threading.Event(), []

    def counted() -> Controller:
        made.append(fresh())
        return made[-1]

    def check(store) -> None:
        looks.append(store)
        if len(looks) == 3:
            stop.set()
    looking(counted, check, 0.001, stop, failed=lambda e: None)
    looks[-1].close()
    assert len(made) == 4 and Closed.closes == len(made), (len(made), Closed.closes)
