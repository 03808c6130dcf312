"""A load run in a process of its own.

LoadInBackground's thread shares the caller's interpreter lock: a benchmark that times a
controller in its own process would have the clients' event loop take turns with the
controller's threads (each hand-over waiting up to the 5 ms switch interval), which no
user's deployment has — their clients are elsewhere. Here the same LoadInBackground runs
in a spawned process; its counts come back through shared memory, its result and any
error through a pipe.

    with LoadInProcess(url, connections=8) as load:
        load.wait_for_responses(200)
        ...deploy...
    assert load.result.failed() == 0
"""

from __future__ import annotations

import multiprocessing
import pickle

from zerodown.loadgen.background import LoadHandle, LoadInBackground
from zerodown.loadgen.result import LoadResult

# How often the child copies its counts into shared memory: wait_for_responses polls
# every 5 ms, so a count is at most a few ms old.
PUBLISH_S = 0.002
STARTUP_S = 30.0   # a spawn imports the interpreter and zerodown afresh


class LoadInProcess(LoadHandle):
    """LoadInBackground in a spawned process: the same arguments, the same handle."""

    def __init__(self, url: str, *, max_duration: float = 120.0, **kwargs):
        context = multiprocessing.get_context("spawn")   # never fork a threaded caller
        self.timeout = kwargs.get("timeout", 10.0)
        self.result: LoadResult | None = None
        self.error: BaseException | None = None
        self._counts = context.Array("q", 4, lock=False)   # sent, ok, ended, unguarded
        self._ready = context.Event()
        self._stop = context.Event()
        self._answer, child_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child, name="loadgen", daemon=True,
            args=(url, max_duration, kwargs, self._counts, self._ready, self._stop, child_end))

    def start(self) -> "LoadInProcess":
        self._process.start()
        if not self._ready.wait(STARTUP_S):
            self._end()
            raise RuntimeError(f"loadgen process did not start within {STARTUP_S:g}s")
        if not self._process.is_alive() or self._answer.poll():  # e.g. a bad URL: say so now
            self._collect(STARTUP_S)
            if self.error is not None:
                raise self.error
        return self

    @property
    def running(self) -> bool:
        # `ended` before the result is sent: a large result waits in the pipe for stop()
        return self._process.is_alive() and not self._counts[2]

    def progress(self) -> tuple[int, int, int]:
        """(sent, ok, failed) so far, a few ms old while running."""
        sent, ok = self._counts[0], self._counts[1]
        return sent, ok, sent - ok

    def unguarded(self) -> int:
        """As LoadInBackground's, a few ms old while running."""
        return self._counts[3]

    def stop(self) -> LoadResult:
        """Stop sending, wait for requests in flight, and return the result."""
        if self._process.ident is None:
            raise RuntimeError("LoadInProcess.stop() before start()")
        self._stop.set()
        if self.result is None and self.error is None:
            self._collect(self.timeout * 2 + 10)
        self._end()
        if self.error is not None:
            raise self.error
        assert self.result is not None  # (_collect sets the result or the error)
        return self.result

    def _collect(self, timeout: float) -> None:
        if not self._answer.poll(timeout):
            self.error = RuntimeError("loadgen process did not stop"
                                      if self._process.is_alive() else
                                      f"loadgen process ended (exit code "
                                      f"{self._process.exitcode}) without a result")
            return
        kind, what = self._answer.recv()
        if kind == "result":
            self.result = what
        else:
            self.error = what

    def _end(self) -> None:
        self._process.join(5)
        if self._process.is_alive():   # only ever our own child, by its handle
            self._process.kill()
            self._process.join(5)


def _child(url, max_duration, kwargs, counts, ready, stop, answer) -> None:
    what: LoadResult | BaseException
    try:
        load = LoadInBackground(url, max_duration=max_duration, **kwargs).start()
        ready.set()
        while load.running and not stop.wait(PUBLISH_S):
            counts[0], counts[1] = load.progress()[:2]
            counts[3] = load.unguarded()
        result = load.stop()
        counts[0], counts[1], counts[3] = result.sent, result.ok, 0
        kind, what = "result", result
    except BaseException as e:
        kind, what = "error", e
    counts[2] = 1
    _send(answer, kind, what)
    ready.set()   # an error at start: sent before start() looks


def _send(answer, kind: str, what) -> None:
    try:
        pickle.dumps(what)
    except Exception:   # an error that does not pickle still reaches the caller, as text
        kind, what = "error", RuntimeError(f"{type(what).__name__}: {what}")
    answer.send((kind, what))
