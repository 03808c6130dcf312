"""Records a deployment's zero-downtime proof (zerodown/proof.py) while Engine.run runs it.

    with ProofRecorder(engine, deployment_id):  # in Engine.run
        ...steps...

On entry it reads the load balancer's counters once and writes that baseline to
the store (a resumed deployment keeps the first baseline, so the proof covers the
whole deployment across controller restarts): in a thread, beside the first steps
when they only start instances and wait for them — which changes nothing the load
balancer counts — and awaited before any other step (`await_baseline`, from
Engine.run), so the deployment's first start does not wait for an admin call and a
write (~1-3 ms on the test fleet, on its critical path). A thread
samples the counters and the table in force every SAMPLE seconds for the lowest
serving capacity and the time two revisions answered at once, and writes what
it found every PERSIST seconds. When the deployment has ended, the last reading
makes the proof, written with a `proof` event. A load balancer that does not
answer costs the proof its samples, never the deployment a step.

The last reading is taken as soon as the deployment has ended in the store
(`ended`, from Engine.run), beside the wait for its last old instances to exit
rather than after it: they are out of the table and drained by then, so no
request reaches them, and the ~5 ms of readings and the proof's write leave the
deployment's time (issue 14's critical path ends with those exits).
"""

from __future__ import annotations

import threading
import time

from zerodown import proof as proofs
from zerodown.engine.beside import Beside
from zerodown.errors import ZerodownError

SAMPLE = 0.2   # seconds between samples of the counters
PERSIST = 1.0  # seconds between writes of what the samples found


class ProofRecorder:
    def __init__(self, engine, deployment_id: int, sample: float | None = None):
        self.engine, self.id = engine, deployment_id
        self.sample = SAMPLE if sample is None else sample  # read now: a test may set SAMPLE
        self.state: dict | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name=f"proof of deployment {deployment_id}")
        self._ending: Beside | None = None
        self._first: Beside | None = None  # the baseline's reading, under way

    def __enter__(self) -> ProofRecorder:
        state = self.engine.store.proof_state(self.id)
        if state is not None and state["proof"] is not None:
            return self  # already proven (run() again on an ended deployment)
        if state is None:
            self._first = Beside(self._baseline, name=f"proof of deployment {self.id}",
                                 pool=getattr(self.engine, "workers", None))
            return self
        self._follow(state)
        return self

    def await_baseline(self) -> None:
        """The baseline read and written (the watch begun): before a step that may change
        what the load balancer counts, and before the end."""
        first = self._first
        if first is not None:
            first.result()  # raises what it raised, where it would have without the thread
            # forgotten only once read: a Ctrl-C in the wait above leaves it to __exit__,
            # which joins it before it looks at what the baseline set (a proof begun
            # whose watch thread was not started yet)
            self._first = None

    def _baseline(self) -> None:
        stats = self._stats()
        if stats is None:
            return  # no baseline, no proof: said by the deployment's missing proof
        self._follow(self.engine.store.begin_proof(
            self.id, self.engine.config.router.kind, self.engine.clock.now(),
            dict(stats, _t=time.time())))

    def _follow(self, state: dict) -> None:
        self.state = state
        progress = state["progress"]
        self._min = progress.get("min_capacity")
        self._overlap = float(progress.get("overlap_s", 0.0))
        self._last = progress.get("last") or state["baseline"]
        self._complete = bool(progress.get("complete", True))
        self._thread.start()

    def ended(self) -> None:
        """The deployment ended in the store: its last reading and the proof, in a thread
        (joined on exit), while the caller waits for the last exits."""
        self.await_baseline()
        if self.state is None or self._ending is not None:
            return
        self._ending = Beside(self._end, name=f"proof of deployment {self.id}, its end")

    def __exit__(self, *exc) -> None:
        first, self._first = self._first, None
        if first is not None and exc[0] is None:
            first.result()
        elif first is not None:
            first.__exit__()  # joined: the run's own error is the one to tell
        if self.state is None:
            return
        if self._ending is None:
            self._end()
            return
        self._ending.result(30)  # raises what _end raised, where it would have without a thread

    def _end(self) -> None:
        self._done.set()
        if self._thread.ident is not None:  # (never started: _follow raised before it)
            self._thread.join(30)
        store = self.engine.store
        try:
            if not store.deployment(self.id).phase.terminal:
                self._persist()  # paused and handed back: the next run() goes on from here
                return
            final = self._stats()
            if final is None:
                return
            self._observe(final)
            state = self.state
            assert state is not None  # (_end runs for a begun proof: its callers check)
            proof = proofs.measure(state["router"], state["baseline"], final,
                                   self.engine.clock.now() - state["started"],
                                   self._min, self._overlap, self._complete,
                                   self._required())
            store.end_proof(self.id, proof.to_dict(), proofs.line(proof))
        except ZerodownError:
            pass  # the store or the load balancer is unavailable: no proof, not a failure

    def _required(self) -> bool:
        d = self.engine.store.deployment(self.id)
        return self.engine._config(d.to_revision).require_zero_failed

    def _stats(self) -> dict | None:
        try:
            return self.engine.router.stats()
        except (ZerodownError, OSError):
            return None

    def _observe(self, stats: dict) -> None:
        """One sample: the capacity serving now, and whether two revisions answered since the last."""
        try:
            table = self.engine.router.in_force()
        except (ZerodownError, OSError):
            table = None
        with self._lock:
            if table is not None:
                weights = {r.name: r.weight for r in table.revisions}
                backends = {bid: rev for bid, (rev, _) in table.backends().items()}
                now = proofs.capacity(stats, weights, backends)
                self._min = now if self._min is None else min(self._min, now)
            t_last, t_now = self._last.get("_t"), time.time()
            if t_last is not None and len(proofs.serving(self._last, stats)) >= 2:
                self._overlap += max(0.0, t_now - t_last)
            self._last = dict(stats, _t=t_now)

    def _persist(self) -> None:
        with self._lock:
            progress = {"min_capacity": self._min, "overlap_s": self._overlap,
                        "complete": self._complete, "last": self._last}
        self.engine.store.proof_progress(self.id, progress)

    def _watch(self) -> None:
        persisted = time.monotonic()
        while not self._done.wait(self.sample):
            stats = self._stats()
            if stats is None:
                continue
            self._observe(stats)
            if time.monotonic() - persisted >= PERSIST:
                persisted = time.monotonic()
                try:
                    self._persist()
                except ZerodownError:
                    pass  # the store is busy or gone: the next write tries again
