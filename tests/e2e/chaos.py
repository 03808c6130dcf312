"""Faults under load, each counted in failed requests: the chaos suite's moves.

Every fault strikes a real stack (local processes, the embedded proxy, SQLite)
while a load generator counts every response, and ends in a deployment that
finished; `Outcome` says how many requests failed across it. Random choices
(which step a controller dies at, when the disk fills) come from one seeded
Random, so a failure replays with its seed. tests/e2e/test_chaos.py runs a few
of each; benchmarks/chaos_bench.py runs many.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
from dataclasses import dataclass
from typing import Callable

import yaml

from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import StoreUnavailable
from tests.e2e.stack import (FOUR_STRATEGIES, Stack, kill_controller_at,
                             kill_controller_then_resume)
from tests.support.disk import filled, small_disk  # noqa: F401 - the suite's disk, from here

STRATEGY_NAMES = ("rolling", "in-place", "blue-green", "canary")


@dataclass(frozen=True)
class Outcome:
    fault: str
    detail: str
    phase: str  # how the deployment under the fault ended
    requests: int
    failed: int

    def line(self) -> str:
        return (f"{self.fault:<19} {self.detail:<38} {self.phase:<10} "
                f"{self.requests:>8} {self.failed:>6}")


HEADER = f"{'fault':<19} {'detail':<38} {'ended':<10} {'requests':>8} {'failed':>6}"


class Chaos:
    def __init__(self, stack: Stack, rng: random.Random, connections: int = 6):
        self.stack, self.rng, self.connections = stack, rng, connections
        self.versions = iter(f"v{n}" for n in range(2, 10_000))
        self.outcomes: list[Outcome] = []

    def _under_load(self, fault: str, act: Callable[[], tuple[str, Phase]],
                    **load: object) -> Outcome:
        (detail, phase), result = self.stack.under_load(act, connections=self.connections,
                                                        settle=100, **load)
        out = Outcome(fault, detail, phase.value, result.sent, result.failed())
        self.outcomes.append(out)
        print(out.line(), flush=True)
        return out

    def round(self, filling: "Callable[[], contextlib.AbstractContextManager] | None") -> None:
        """One of each fault: a controller SIGKILL in each strategy, a full disk (when there
        is a disk to fill), the store lost between deployments and in the middle of one."""
        for strategy in STRATEGY_NAMES:
            self.controller_kill(strategy)
        self.proxy_kill(self.rng.choice(STRATEGY_NAMES))
        if filling is not None:
            self.disk_full(filling)
        self.store_loss(mid_deployment=False)
        self.store_loss(mid_deployment=True)

    def totals(self) -> str:
        """Per fault: how many, requests sent, requests failed."""
        lines = [f"{'fault':<19} {'runs':>5} {'requests':>9} {'failed':>7}"]
        for fault in dict.fromkeys(o.fault for o in self.outcomes):
            mine = [o for o in self.outcomes if o.fault == fault]
            lines.append(f"{fault:<19} {len(mine):>5} {sum(o.requests for o in mine):>9} "
                         f"{sum(o.failed for o in mine):>7}")
        return "\n".join(lines)

    # --- the faults --------------------------------------------------------------------

    def controller_kill(self, strategy: str) -> Outcome:
        """SIGKILL the controller at a random step of a deployment by `strategy`, resume."""
        section = json.dumps(yaml.safe_load(FOUR_STRATEGIES[STRATEGY_NAMES.index(strategy)]))
        share = round(self.rng.uniform(0.05, 0.95), 2)

        def act() -> tuple[str, Phase]:
            resumed = kill_controller_then_resume(self.stack, share, version=next(self.versions),
                                                  strategy=section)
            return (f"{strategy}, killed at {share:.0%} of its steps",
                    _only(resumed.values()))
        return self._under_load("controller SIGKILL", act)

    def proxy_kill(self, strategy: str) -> Outcome:
        """SIGKILL the proxy's serving process at a random step of a deployment (its
        supervisor starts another on the same sockets). The load's clients retry an
        idempotent request once, as browsers and HTTP libraries do: the requests in flight
        in the killed process get no answer (a client that never retries sees those)."""
        section = yaml.safe_load(FOUR_STRATEGIES[STRATEGY_NAMES.index(strategy)])
        share = round(self.rng.uniform(0.05, 0.95), 2)

        def act() -> tuple[str, Phase]:
            stack = self.stack
            id = stack.engine.deploy(next(self.versions), strategy=section)
            steps = len(stack.store.deployment(id).steps)
            killed: list[int] = []

            def listener(event):
                if (not killed and event.kind == "step.finished"
                        and event.data.get("index", -1) + 1 >= max(1, int(share * steps))):
                    killed.append(stack.router.client.health()["pid"])
                    os.kill(killed[0], signal.SIGKILL)
            stack.store.listeners.append(listener)
            try:
                phase = stack.engine.run(id)
            finally:
                stack.store.listeners.remove(listener)
            assert killed, "the deployment ended before the kill"
            return f"{strategy}, serving process at {share:.0%}", phase
        return self._under_load("proxy SIGKILL", act, retry_idempotent_once=True)

    def disk_full(self, filling: "Callable[[], contextlib.AbstractContextManager]") -> Outcome:
        """The store's disk fills at a random step of a deployment; space is freed and the
        deployment resumed by a new controller."""
        at = self.rng.randint(1, 6)

        def act() -> tuple[str, Phase]:
            stack = self.stack
            id = stack.engine.deploy(next(self.versions))
            full = contextlib.ExitStack()

            def listener(event):
                if event.kind == "step.finished" and event.data.get("index") == at - 1:
                    stack.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # must grow
                    full.enter_context(filling())
            stack.store.listeners.append(listener)
            try:
                stack.engine.run(id)
                raise AssertionError("the deployment ended although its store's disk was full")
            except StoreUnavailable as e:
                assert "disk is full" in str(e), e
            finally:
                full.close()  # space freed
            stack.restart_controller()
            return f"full after step {at}, freed, resumed", stack.engine.run(id)
        return self._under_load("disk full", act)

    def store_loss(self, mid_deployment: bool) -> Outcome:
        """Delete the store (file, WAL, shared memory) and go on with a new controller:
        between deployments, or with the controller killed in the middle of one."""
        def act() -> tuple[str, Phase]:
            stack = self.stack
            if mid_deployment:
                share = round(self.rng.uniform(0.1, 0.9), 2)
                kill_controller_at(stack, share, version=next(self.versions))
                detail = f"deleted, controller killed at {share:.0%}"
            else:
                detail = "deleted between deployments"
            stack.store.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{stack.db}{suffix}")
            stack.restart_controller()
            assert stack.engine.recover() is not None, "nothing was rebuilt"
            return detail, stack.deploy(next(self.versions))
        return self._under_load("store loss", act)


def _only(phases) -> Phase:
    phases = list(phases)
    assert len(phases) == 1, phases
    return phases[0]
