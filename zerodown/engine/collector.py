"""The interpreter's cyclic garbage collector, kept from walking the whole controller in
the middle of a deployment.

A full collection (generation 2) walks every container object the process holds — in a
controller the modules it imported, its config, store and SSH connections — with the
interpreter's lock held: every thread waits. The interpreter starts one whenever enough
objects have survived the younger generations, so one lands inside a deployment now and
then: in one of session 20's `fleet_deploy.py --trace` runs a 29 ms pass held a rolling
deployment's three starts of its second batch (and the route behind them), a tenth of
the plan's critical path; a re-run of 6 deployments saw none either way (benchmarks/
README.md, "the cyclic collector's passes").

While a deployment runs, the objects alive when it began are frozen (gc.freeze: moved to
the permanent generation, in constant time): a full collection then walks only what was
made since — a few milliseconds. They are unfrozen (constant time again) when the last
deployment running in the process ends, so garbage cycles among them are collected as
before, by the interpreter's own schedule, between deployments. Reference counting frees
frozen objects as ever; only a cycle among them that became garbage meanwhile waits.

Only the first of overlapping deployments freezes (the daemon runs one per service, and
they may overlap for days: a paused canary beside others). Each start froze what the
ones before had made, the garbage among it too, so while any ran, no cycle that died
since the first began was ever collected: what is frozen is one snapshot, bounded.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_running = 0  # deployments running in this process (the daemon runs one per service)


@contextmanager
def held_off() -> Iterator[None]:
    """Around a deployment's run: what is alive now is out of the collector's full passes
    until the last deployment running in this process ends."""
    global _running
    with _lock:
        _running += 1
        if _running == 1:  # the first only: see the module docstring
            gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.unfreeze()
