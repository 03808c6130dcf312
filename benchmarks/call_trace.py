"""A timeline of the calls a deployment makes (benchmarks' --trace): which method of the
runtime, the router, the store and the engine ran when, for how long, on which thread.

    trace = CallTrace()
    trace.wrap(stack.runtime, "start", "stop", "look")   # instance attributes, this object only
    trace.wrap_class(ProofRecorder, "__enter__", "__exit__")  # every instance (undo() restores)
    trace.begin(); ...; print("\n".join(trace.lines()))

Only for measuring: each wrapped call costs a few microseconds.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from contextlib import contextmanager


class CallTrace:
    def __init__(self):
        self.began = time.monotonic()
        self.calls: list[tuple[float, float, str, str]] = []  # (start, end, name, thread)
        self._undo: list[tuple[object, str, object]] = []
        self._lock = threading.Lock()

    def begin(self) -> None:
        """The clock's zero (the deployment's start), and no calls before it."""
        with self._lock:
            self.began, self.calls = time.monotonic(), []

    def _record(self, name: str, t0: float) -> None:
        with self._lock:
            self.calls.append((t0, time.monotonic(), name, threading.current_thread().name))

    def mark(self, name: str, wall: float) -> None:
        """An event another process timed by the wall clock (a host's answer's "at"), placed
        on this trace's clock: on this machine (the test fleet's hosts share its clocks) to
        well under a millisecond."""
        t = time.monotonic() - (time.time() - wall)
        with self._lock:
            self.calls.append((t, t, name, threading.current_thread().name))

    def _wrapped(self, name: str, fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            t0 = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                self._record(name, t0)
        return call

    def wrap(self, obj, *methods: str, label: str | None = None) -> None:
        for m in methods:
            fn = getattr(obj, m)
            self._undo.append((obj, m, None))
            setattr(obj, m, self._wrapped(f"{label or type(obj).__name__}.{m}", fn))

    def wrap_class(self, cls, *methods: str) -> None:
        for m in methods:
            fn = cls.__dict__[m]
            self._undo.append((cls, m, fn))
            setattr(cls, m, self._wrapped(f"{cls.__name__}.{m}", fn))

    def wrap_module(self, module, *functions: str) -> None:
        for f in functions:
            fn = getattr(module, f)
            self._undo.append((module, f, fn))
            setattr(module, f, self._wrapped(f"{module.__name__.rsplit('.', 1)[-1]}.{f}", fn))

    def watch_gc(self) -> None:
        """The cyclic collector's passes, as calls "gc: generation 2" on the thread that
        triggered them (every thread waits for one: it holds the interpreter's lock)."""
        began: list[float] = []

        def seen(phase: str, info: dict) -> None:
            if phase == "start":
                began[:] = [time.monotonic()]
            elif began:
                self._record(f"gc: generation {info['generation']}", began[0])
        gc.callbacks.append(seen)
        self._undo.append((gc.callbacks, seen, "callback"))

    def wrap_tx(self, store) -> None:
        """The store's write transactions, named synced or lazy."""
        tx = store._tx

        @contextmanager
        def traced(durable: bool = True):
            t0 = time.monotonic()
            try:
                with tx(durable) as t:
                    yield t
            finally:
                self._record("store.commit" + ("" if durable else " (lazy)"), t0)
        self._undo.append((store, "_tx", None))
        store._tx = traced

    def undo(self) -> None:
        for obj, name, original in reversed(self._undo):
            if original == "callback":
                obj.remove(name)
            elif original is None:
                delattr(obj, name)  # the instance attribute: the class's method again
            else:
                setattr(obj, name, original)
        self._undo = []

    def lines(self) -> list[str]:
        """Every call: its start and duration in ms from begin(), nested calls indented."""
        calls = sorted(self.calls, key=lambda c: (c[0], -c[1]))
        out: list[str] = []
        open_: dict[str, list[float]] = {}
        for t0, t1, name, thread in calls:
            stack = [e for e in open_.get(thread, []) if e > t0]
            open_[thread] = stack + [t1]
            who = "" if thread == "MainThread" else f"  [{thread}]"
            out.append(f"  {1000 * (t0 - self.began):7.1f} ms +{1000 * (t1 - t0):6.1f}  "
                       f"{'  ' * len(stack)}{name}{who}")
        return out
