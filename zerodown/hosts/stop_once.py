"""A stop of a recorded instance signals it once, however many stops are asked
(InstanceTable.stop; stdlib only: the agent runs it on every host).

Why. Many servers (gunicorn, uvicorn, nginx's fast shutdown, examples/app/app.py) take a
second SIGTERM as "exit at once": it cuts the graceful drain the first one began. And one
instance can be asked to stop more than once: a controller killed after it sent a stop,
before the stop's exit was written confirmed, sends it again when it resumes
(engine/stopping.py, engine/reconciling.py); a Finishing.reconcile that failed after its
stops were sent (engine/finishing.py) is run again; a `zerodown down` beside the daemon
stops what a deployment is stopping.

How. The first stop writes the time it sends SIGTERM, and its grace, into the instance's
record (`"stopping": {"sent": ..., "grace": ..., "signalled": ...}`) and sends it, under
the registry's lock: two stops at once (threads of one process, the agents of two sessions
or of two controllers) are one after the other there, and the second finds the mark. A
stop that finds it signals nothing: it awaits the same exit until the first stop's deadline
(sent + its grace), then SIGKILLs as the first would have (the first's caller may be gone: its
agent session killed, its controller killed), and answers as the first does. A longer
grace does not move that deadline (the app was told when it was told); a shorter one
moves it earlier — the earlier deadline holds, as a Kubernetes pod's grace can be
shortened, never lengthened: `zerodown down` with a short grace beside a deployment's
long one means it, and its call, bounded by its own grace, would otherwise time out
waiting for the first's.

"sent" is time.monotonic(), CLOCK_MONOTONIC on Linux: one clock for every process of the
boot, and the record is of this boot (InstanceTable checks its boot id), so another
process reads the deadline right.

Marked, then signalled. The mark is written with `"signalled": false` before the SIGTERM,
and `true` by one write(2) right after it (its line made, the file opened before the
signal: Registry.ready), all under the lock. A stop that takes the lock and finds a mark
still unsignalled knows its sender ended between the two (SIGKILLed, its daemon thread cut
at the interpreter's exit, its agent session killed): the instance was never told. That
stop is done as a first one (a SIGTERM now, the grace from now, the shorter of the two
graces), not a SIGKILL at a deadline the app never heard of. A mark without the key (an
older zerodown's) was sent. Left open, and said: a sender ended in the microseconds between
its kill(2) and that write(2) leaves a mark read as unsent, and the next stop sends a
second SIGTERM; no record can be one act with a signal, and of the two orders this one
tells the app at least once.

Not synced. The mark is read only by the processes of this machine, which see the write
at once, the sender's death notwithstanding (the page cache keeps it); a crash of the
machine loses it, but ends the instance too, so nothing is left that a second SIGTERM
could cut. That instance is out of the traffic already (a stop is guarded, and drained
first), so a stop resumed sends it no new drain.
"""

from __future__ import annotations

import signal
import time

from zerodown.hosts import priority
from zerodown.hosts.local import running, signal_group


def mark(entry: dict, grace: float, yielding: bool) -> bool:
    """Under the registry's lock, before anything is signalled: is this the first stop of
    the recorded instance `entry` (then `entry` now holds its mark, to be saved and the
    SIGTERM sent by send()), or one under way already (its mark kept)? An instance whose
    process has ended gets none: nothing is sent to it. A mark never signalled (its sender
    ended before its SIGTERM) is made again, as a first stop's, its grace the shorter.
    `yielding` (others start beside this exit): a low CPU priority first, what it was kept
    in `entry["yielded"]` for a hasten() and for the stop's giving back
    (zerodown/hosts/priority.py); a stop not yielding takes out what an earlier yielding one
    took, for its caller to give back (the fast exit is asked for now; outside the lock: a
    giving back may retry for GIVE_BACK_FOR)."""
    under_way = isinstance(entry.get("stopping"), dict)
    unsent = under_way and entry["stopping"].get("signalled") is False
    pid, started = entry["pid"], entry["start_time"]
    if not running(pid, started):
        return False
    yielded = entry.get("yielded")
    if yielded and not yielding:
        entry.pop("yielded")  # given back by the caller, once the lock is let go of
    elif yielding and not yielded and (unsent or not under_way):
        yielded = priority.lower(pid)
        if yielded:
            entry["yielded"] = yielded
    if under_way and not unsent:
        return False
    if unsent:
        grace = min(grace, entry["stopping"]["grace"])
    entry["stopping"] = {"sent": time.monotonic(), "grace": grace, "at": time.time(),
                         "signalled": False}
    return True


def send(registry, entries: dict, entry: dict) -> None:
    """The SIGTERM of a first stop (mark() said so, its mark saved), then its record that it
    went: one write(2) after the signal, the line and the file made ready before it. A
    record that fails (the disk full) leaves the mark unsent: a stop asked again sends
    again, as one would without a mark (save)."""
    entry["stopping"]["signalled"] = True
    try:
        record = registry.ready(entries)
    except OSError:
        record = None
    signal_group(entry["pid"], signal.SIGTERM)
    if record is not None:
        try:
            record()
        except OSError:
            pass


def deadline(entry: dict, grace: float) -> tuple[float, float]:
    """(sent, grace) of the stop under way for `entry`: the first stop's, its grace cut to
    end `grace` from now if that is sooner; else one sent now (an instance that has ended:
    nothing is awaited)."""
    first = entry.get("stopping")
    now = time.monotonic()
    if isinstance(first, dict):
        return first["sent"], max(0.0, min(first["grace"], now + grace - first["sent"]))
    return now, grace


def save(registry, entries: dict) -> None:
    """A stop's writes to the registry (its mark, its record's removal), unsynced: each is
    lost with a crash already. One that fails (the state folder's disk full, as
    deployments find it) must not keep the instance from being stopped: without its
    mark, a stop asked again signals again, as before this module."""
    try:
        registry.save(entries, sync=False)
    except OSError:
        pass
