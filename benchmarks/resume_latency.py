"""How soon a paused deployment acts on an action (session 18): through the controller
daemon, the time from a resume or promote request to the paused step's end as the
daemon records it (its step.finished event), and whether a pause sent GAP s after a
resume undoes it (the resume's step.finished missing: the resume lost).

    .venv/bin/python benchmarks/resume_latency.py                 # 10 resumes, 5 promotes
    .venv/bin/python benchmarks/resume_latency.py --pauses 20 --gap 0.05
    .venv/bin/python benchmarks/resume_latency.py --other-process

`--other-process`: without a daemon, the engine run in this process (fakes for the app
and the load balancer, the real clock) and each resume sent by another process writing
the store (as an older CLI did): from the resume's phase event to the pause's end.

A service of the CLI tests (tests/support/cli.py: the example app, embedded proxy) and a
canary with `--pauses` manual pauses; each resume or promote waits for the pause to be
reached, then asks through the API's unix socket.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.component.test_paused_wakes import Raw, held, log  # noqa: E402
from tests.support.cli import Service  # noqa: E402


def ended(raw: Raw, id: int) -> list[dict]:
    return [e for e in log(raw, id) if e["kind"] == "step.finished"
            and e["text"].endswith(("resumed", "promoted"))]


def latencies(s: Service, raw: Raw, verb: str, pauses: int) -> list[float]:
    steps = ", ".join(f"{{weight: {10 + i}}}, {{pause: {{}}}}" for i in range(pauses))
    id = raw.ok("POST", "/api/v1/deployments", {"version": f"v{verb}", "strategy": "canary",
                                                "set": [f"strategy.steps=[{steps}]"]})["id"]
    took = []
    for n in range(1, pauses + 1):
        held(raw, id, n)
        asked = time.time()
        raw.ok("POST", f"/api/v1/deployments/{id}/{verb}")
        while len(ended(raw, id)) < n:
            time.sleep(0.005)
        took.append(ended(raw, id)[-1]["time"] - asked)
    s.run("abort", code=None)
    return took


def overtaken(s: Service, raw: Raw, gap: float, rounds: int) -> int:
    """Rounds of resume, then pause `gap` s later, whose resume ended its pause."""
    kept = 0
    for r in range(rounds):
        id = raw.ok("POST", "/api/v1/deployments", {"version": f"vgap{r}", "strategy": "canary",
                                                    "set": ["strategy.steps=[{weight: 25}, "
                                                            "{pause: {}}, {pause: 60s}]"]})["id"]
        held(raw, id, 1)
        raw.ok("POST", f"/api/v1/deployments/{id}/resume")
        time.sleep(gap)  # the gap being measured
        raw.ok("POST", f"/api/v1/deployments/{id}/pause")
        deadline = time.monotonic() + 3  # 3x the old poll: a resume acted on shows by then
        while not ended(raw, id) and time.monotonic() < deadline:
            time.sleep(0.01)
        kept += bool(ended(raw, id))
        s.run("abort", code=None)
    return kept


def from_another_process(n: int) -> list[float]:
    from tests.support.engine_world import config
    from zerodown.engine.runner import Engine, SystemClock
    from zerodown.engine.store import Store
    from zerodown.fakes import FakeRouter, FakeRuntime
    from zerodown.plan import Pause, Plan
    from zerodown.strategies import plan_for

    def planner(strategy, state, target, hooks=frozenset()) -> Plan:
        plan = plan_for(strategy, state, target)
        return Plan(plan.strategy, plan.state, plan.target,
                    (*(Pause(f"pause {i}") for i in range(n)), *plan.steps))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zerodown.db"
        e = Engine(Store(path), FakeRuntime(healthy_after=0), FakeRouter(), SystemClock(),
                   config(1), planner=planner)
        d = e.deploy("v1")
        run = threading.Thread(target=e.run, args=(d,), kwargs={"hold": True})
        run.start()
        signal = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from zerodown.engine.store "
                  f"import Store; Store({str(path)!r}).signal({d}, 'resume')")
        for i in range(n):
            while (lambda x: x.phase.value != "paused" or x.cursor != i)(e.store.deployment(d)):
                time.sleep(0.005)
            subprocess.run([sys.executable, "-c", signal], check=True)
        run.join()
        events = Store(path).events(deployment=d)
    asked = [x.time for x in events if x.kind == "phase" and x.data["from"] == "paused"]
    done = [x.time for x in events if x.kind == "step.finished" and
            x.message.endswith("resumed")]
    return [b - a for a, b in zip(asked, done)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pauses", type=int, default=10)
    p.add_argument("--gap", type=float, default=0.05)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--other-process", action="store_true")
    args = p.parse_args()
    if args.other_process:
        t = sorted(from_another_process(args.pauses))
        print(f"resume from another process: n={len(t)} median "
              f"{statistics.median(t) * 1000:.0f} ms, max {t[-1] * 1000:.0f} ms")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        s = Service(Path(tmp))
        try:
            s.run("up")
            raw = Raw(s)
            for verb, n in (("resume", args.pauses), ("promote", max(1, args.pauses // 2))):
                t = sorted(latencies(s, raw, verb, n))
                print(f"{verb}: n={len(t)} median {statistics.median(t) * 1000:.0f} ms, "
                      f"max {t[-1] * 1000:.0f} ms")
            kept = overtaken(s, raw, args.gap, args.rounds)
            print(f"resume then pause {args.gap * 1000:.0f} ms later: the resume acted in "
                  f"{kept}/{args.rounds}")
        finally:
            s.run("down", code=None)
            s.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
