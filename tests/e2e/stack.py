"""The whole control plane on real parts, for e2e tests: a zerodown.yaml in a
temp dir, the SQLite store, local processes, the embedded proxy, a real clock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zerodown import example
from zerodown.analysis import judge_for
from zerodown.config import load_config
from zerodown.engine.runner import Engine, SystemClock
from zerodown.engine.steps import MAX_PARALLEL
from zerodown.engine.store import Store
from zerodown.loadgen import LoadInBackground, LoadInProcess
from zerodown.routers import router_for
from zerodown.runtimes import runtime_for
from tests.support.net import free_port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


# One of each strategy, for the suites that run all four through a load balancer.
FOUR_STRATEGIES = [
    "{kind: rolling, max_surge: 1, max_unavailable: 0}",
    "{kind: in-place, batch_size: 1}",
    "{kind: blue-green, scale_down_delay: 1s}",
    "{kind: canary, steps: [{weight: 20}, {pause: 1s}, {weight: 50}, {pause: 1s}], "
    "match: [{header: X-Canary, equals: '1'}], sticky: {mode: header, name: X-User}}",
]


def write_config(folder: Path, *, instances: int = 3,
                 strategy: str = "{kind: rolling, max_surge: 1, max_unavailable: 0}",
                 port: int | None = None, router: str | None = None) -> Path:
    """`router`: the router section in YAML flow style, e.g. "{kind: nginx}"."""
    path = folder / "zerodown.yaml"
    path.write_text(example.config_text("shop", f"127.0.0.1:{port or free_port()}",
                                        instances=instances, strategy=strategy,
                                        health_interval="100ms", start_timeout="10s",
                                        drain_timeout="5s", stop_grace="3s", router=router))
    return path


class Stack:
    def __init__(self, config_path: Path, state_dir: Path, db: Path | None = None):
        """`db`: the store's file, if not state_dir/zerodown.db (on a disk of its own)."""
        self.config = load_config(str(config_path))
        self.state_dir = state_dir
        self.db = db or state_dir / "zerodown.db"
        state_dir.mkdir(parents=True, exist_ok=True)
        self.runtime = runtime_for(self.config, state_dir)
        self.router = router_for(self.config, state_dir)
        self.router.ensure_running()
        # as Controller.workers: a parallel runtime's starts on threads kept across engines
        self.workers = ThreadPoolExecutor(MAX_PARALLEL, "starts")
        self.restart_controller()

    def restart_controller(self) -> None:
        """A new controller: a new connection to the store (which may be a new file) and a
        new engine, over the same runtime and load balancer."""
        if getattr(self, "store", None) is not None:
            self.store.close()
        self.store = Store(str(self.db))
        clock = SystemClock()
        judge = judge_for(self.config, self.router, clock, lambda kind, text, deployment:
                          self.store.event(self.config.service, kind, text, deployment))
        self.engine = Engine(self.store, self.runtime, self.router, clock, self.config,
                             judge=judge, workers=self.workers)

    @property
    def url(self) -> str:
        return f"http://{self.config.listen}/"

    def deploy(self, version: str, **kwargs):
        return self.engine.run(self.engine.deploy(version, **kwargs))

    def under_load(self, act, *, connections: int = 8, duration: float = 90, settle: int = 300,
                   apart: bool = False, **load_options):
        """act() while a load counts every response, `settle` of them answered before and
        after it: (what act returned, the LoadResult). `apart`: the clients in a process of
        their own, not sharing this one's interpreter lock (benchmarks that time act())."""
        load_kind = LoadInProcess if apart else LoadInBackground
        with load_kind(self.url, connections=connections, duration=duration,
                       **load_options) as load:
            load.wait_for_responses(settle)
            out = act()
            load.wait_for_responses(load.progress()[0] + settle)
            return out, load.stop()

    def pids(self) -> set[int]:
        return {i.pid for i in self.runtime.adopt(self.config.service) if i.pid}

    def close(self) -> None:
        """Its instances stopped, its load balancer, store and runtime closed; once (a test's
        finally may close a stack its body closed already)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            for instance in self.runtime.adopt(self.config.service):
                self.runtime.stop(instance, grace=3)
            self.router.stop()
            self.store.close()
        finally:   # a fleet's SSH connections and threads, even when a stop failed
            self.workers.shutdown(wait=False)
            close = getattr(self.runtime, "close", None)
            if close is not None:
                close()


CONTROLLER = """
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.e2e.stack import Stack
stack = Stack(Path({config!r}), Path({state!r}), Path({db!r}))
id = stack.engine.deploy({version!r}, strategy=json.loads({strategy!r}))
print("deployment", id, flush=True)
kill_at = {kill_at!r}
if kill_at is not None:  # SIGKILL itself once step `at` is durably begun, before it acts
    steps = len(stack.store.deployment(id).steps)
    at = min(max(kill_at if isinstance(kill_at, int) else int(kill_at * steps), 1), steps - 1)

    def crash(event):
        if (event.kind == "step.started" and event.deployment == id
                and event.data.get("index", -1) >= at):
            os.kill(os.getpid(), signal.SIGKILL)
    stack.store.listeners.append(crash)
stack.engine.run(id)
"""


def kill_controller_then_resume(stack: Stack, kill_at: int | float, timeout: float = 30.0,
                                version: str = "v2", strategy: str | None = None) -> dict:
    """Deploy `version` from a controller process of its own, SIGKILL it at step
    `kill_at` (kill_controller_at), and resume it here: {deployment id: its end phase}."""
    kill_controller_at(stack, kill_at, timeout, version, strategy)
    return stack.engine.resume_interrupted(stop_when_paused=False)


def kill_controller_at(stack: Stack, kill_at: int | float, timeout: float = 30.0,
                       version: str = "v2", strategy: str | None = None) -> None:
    """Deploy `version` (with `strategy`, a JSON section, or the configured one) from a
    controller process of its own that is SIGKILLed as step `kill_at` begins (a float
    below 1: that share of its steps; at least step 1, at most the last). The controller
    kills itself from the store's listener, so the moment is exact: a watcher polling the
    cursor from here missed it when the steps after it took less than one poll."""
    controller = start_controller(stack, version, strategy, kill_at)
    try:
        out, _ = controller.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(controller.pid, signal.SIGKILL)
        out, _ = controller.communicate()
        raise AssertionError(f"the controller did not reach step {kill_at} within {timeout}s: "
                             f"{out!r}") from None
    assert controller.returncode == -signal.SIGKILL, (
        f"the controller ended (rc {controller.returncode}) instead of being killed at step "
        f"{kill_at}: {out!r}")


def start_controller(stack: Stack, version: str, strategy: str | None,
                     kill_at: int | float | None = None) -> subprocess.Popen:
    script = CONTROLLER.format(root=str(os.getcwd()), config=stack.config.file,
                               state=str(stack.state_dir), db=str(stack.db), version=version,
                               strategy=strategy or "null", kill_at=kill_at)
    return subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
