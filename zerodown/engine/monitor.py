"""Background analysis: judge the new revision all through a canary, abort on a bad verdict.

    with BackgroundAnalysis(engine, deployment_id, spec, revision, against):  # in Engine.run
        ...steps...

The canary's `analysis:` section (not an `{analysis: ...}` step) asks for it.
A thread calls the engine's judge while the deployment is running or paused,
and the judge's evidence grows over the whole canary: its sequential test is
always valid, so one test may watch for as long as the canary runs (rounds
that each began from nothing let a worse canary through four inconclusive
rounds whose pooled evidence failed it, issue 17). A "fail" aborts the
deployment at once from that thread (the step in progress sees the abort at
its next poll), with the evidence as the error. A "pass" is what the plan's
gate before the promotion waits for (canary.py puts an Analyze step with
`background: true` there; Engine._analyze asks `passed`); after a pass the
watch goes on, each later round with half the false-alarm budget of the one
before, so all of them together fail a good canary with a chance of at most
max_false_alarm. A controller restart starts a new monitor (run() does), from
fresh evidence.
"""

from __future__ import annotations

import dataclasses
import threading

from zerodown.engine.lifecycle import Phase, PhaseError
from zerodown.errors import ZerodownError
from zerodown.plan import Analyze

WATCHED = frozenset({Phase.PENDING, Phase.RUNNING, Phase.PAUSED})
ROUND_GAP = 0.2  # real seconds between rounds (a judge that returns at once must not spin)


class _Over(Exception):
    """The deployment left the phases a background analysis watches, or run() returned."""


def verdict_of(result) -> tuple[str, str]:
    """(verdict, why) from what a judge returned: the pair, or a bare verdict."""
    return result if isinstance(result, tuple) else (result, "")


class BackgroundAnalysis:
    def __init__(self, engine, deployment_id: int, spec: dict, revision: int, against: int):
        self.engine, self.id = engine, deployment_id
        self.spec, self.revision, self.against = dict(spec), revision, against
        self.passed = threading.Event()  # a round passed: the promotion may go on
        self.why = ""  # the last verdict's evidence
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name=f"analysis of deployment {deployment_id}")

    def __enter__(self) -> "BackgroundAnalysis":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(30)

    def _check(self):
        """The deployment, while it is still watched; _Over once it is not."""
        d = self.engine.store.deployment(self.id)
        if self._done.is_set() or d.phase not in WATCHED:
            raise _Over()
        return d

    def _watch(self) -> None:
        store, service = self.engine.store, self.engine.service
        alpha = float(self.spec.get("max_false_alarm", 0.01))
        rounds = 1  # round k may fail a good canary with a chance of alpha / 2^k
        try:
            while True:
                d = self._check()
                step = Analyze(self.revision, {**self.spec, "on_inconclusive": "wait",
                                               "max_false_alarm": alpha / 2 ** rounds,
                                               "round": rounds}, self.against)
                verdict, self.why = verdict_of(self.engine.judge(step, d, self._check))
                if verdict == "fail":
                    self._abort(f"background analysis of r{self.revision} failed: {self.why}")
                    return
                if verdict == "pass":
                    self.passed.set()
                    rounds += 1
                self._done.wait(ROUND_GAP)  # a judge that returns at once must not spin
        except _Over:
            return
        except ZerodownError as e:  # the judge broke: say so; the gate will not pass without it
            store.event(service, "analysis.error", f"background analysis stopped: {e}", self.id)

    def _abort(self, why: str) -> None:
        try:
            self.engine.store.signal(self.id, "abort", why)
        except PhaseError:
            pass  # it ended or was aborted meanwhile: nothing left to stop


def background_spec(strategy) -> dict | None:
    """The background analysis a strategy config asks for, as an Analyze spec, or None."""
    analysis = getattr(strategy, "analysis", None)
    return None if analysis is None else dataclasses.asdict(analysis)
