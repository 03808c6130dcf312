"""Background analysis: judge the new revision all through a canary, abort on a bad verdict.

    with BackgroundAnalysis(engine, deployment_id, spec, revision, against):  # in Engine.run
        ...steps...

The canary's `analysis:` section (not an `{analysis: ...}` step) asks for it.
A thread calls the engine's judge over and over, each time on fresh
evidence, while the deployment is running or paused; a "fail" aborts it at
once from that thread (the step in progress sees the abort at its next poll:
a pause, a health wait or a drain all poll), with the evidence as the error.
A pass or an inconclusive verdict only starts the next round: stable's traffic
keeps being compared with the canary's until the deployment leaves these
phases. A controller restart starts a new monitor (run() does).
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
        self.step = Analyze(revision, spec, against)
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
        try:
            while True:
                d = self._check()
                verdict, why = verdict_of(self.engine.judge(self.step, d, self._check))
                if verdict == "fail":
                    self._abort(f"background analysis of r{self.step.revision} failed: {why}")
                    return
                self._done.wait(ROUND_GAP)  # the next round starts from fresh evidence
        except _Over:
            return
        except ZerodownError as e:  # the judge broke: say so, and leave the steps to go on
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
