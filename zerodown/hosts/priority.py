"""A leaving instance's CPU priority: low while others start beside its exit.

A rolling batch's new instances start while the previous batch's old ones exit (the
old ones out of the table and drained: nothing waits for their exit but the
deployment's end); on the same cores that exit (the app's own shutdown) slows the start
the deployment does wait for. So such a stop lowers the process's priority before its
SIGTERM and gives it back once nothing more starts (InstanceTable.hasten), or after
half of stop_grace at the latest (local.terminate): a graceful shutdown is never
SIGKILLed for want of the CPU it gave way with.

Two knobs, both turned: the nice of every thread of the instance's process group
(setpriority PRIO_PGRP), and the nice of its session's autogroup (/proc/PID/autogroup).
With sched_autogroup_enabled (many distributions' default) and each instance a session
of its own, the CPU is shared between sessions first, so a nice alone changes nothing
against another session (sched(7)); in a cgroup other than the root one the autogroup
does not apply, and the nice does.

Only what can be given back is lowered (setpriority(2), sched(7)): raising a nice value
back needs CAP_SYS_NICE or enough RLIMIT_NICE, so without them (a non-root agent) only
the autogroup is lowered; its nice can be given back to 0 or more by its owner, but
without CAP_SYS_ADMIN the kernel takes one autogroup write every 100 ms machine-wide
(EAGAIN meanwhile): a lowering then skips it, a giving back tries again for a while.
A process group whose processes had different nice values gets back the highest
priority of them (the one getpriority reports).
"""

from __future__ import annotations

import errno
import os
import resource
import time

# nice 10: a CPU weight of 110 against nice 0's 1024 (sched(7)), ~10% of a core shared
# with one busy process. Measured on the test fleet (benchmarks/README.md): it takes most
# of what the exits cost the starts, where nice 19 (weight 15) also did, but an exit at 19
# beside the load alone took ~1.2 s instead of ~0.1 s: too starved to be given back late.
LOW = 10
CAP_SYS_NICE = 23
GIVE_BACK_FOR = 0.5  # s a giving back retries an autogroup write the kernel rate-limits
RETRY = 0.02


def lower(pid: int) -> dict:
    """Give `pid`'s process group, and its session's autogroup if it leads its session,
    a low CPU priority (nice LOW; one already that low is left as it is). Returns what
    they were ({"nice": n, "autogroup": n}, only what was lowered), for give_back(); {}
    when nothing was (gone, or not undoable)."""
    was: dict = {}
    which = _group(pid)
    try:
        nice = os.getpriority(*which)
        if nice < LOW and can_raise_to(nice):
            os.setpriority(*which, LOW)
            was["nice"] = nice
    except OSError:
        return was  # gone
    if _leads_session(pid):
        group = autogroup_nice(pid)
        if group is not None and group < LOW and (group >= 0 or can_raise_to(group)):
            try:
                _write_autogroup(pid, LOW)
                was["autogroup"] = group
            except OSError:
                pass  # rate-limited (not CAP_SYS_ADMIN), or gone: the nice alone
    return was


def give_back(pid: int, was: dict) -> None:
    """Restore what lower() returned for `pid` (the caller knows it is still the same
    process). Gone meanwhile: nothing to do."""
    try:
        if "nice" in was:
            os.setpriority(*_group(pid), was["nice"])
        if "autogroup" in was:
            deadline = time.monotonic() + GIVE_BACK_FOR
            while True:
                try:
                    _write_autogroup(pid, was["autogroup"])
                    return
                except OSError as e:
                    if e.errno != errno.EAGAIN or time.monotonic() > deadline:
                        raise
                    time.sleep(RETRY)
    except OSError:  # gone, or not ours to change any more (setuid'd?): its exit goes at
        pass         # the priority it has


def autogroup_nice(pid: int) -> int | None:
    """The nice of `pid`'s autogroup ("/autogroup-25 nice 0"); None without autogroups."""
    try:
        with open(f"/proc/{pid}/autogroup", encoding="ascii") as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def can_raise_to(nice: int, caps: int | None = None, rlimit: int | None = None) -> bool:
    """May this process set a nice value back down to `nice`? With CAP_SYS_NICE, or an
    RLIMIT_NICE of at least 20 - nice (setrlimit(2))."""
    caps = _effective_caps() if caps is None else caps
    if caps >> CAP_SYS_NICE & 1:
        return True
    rlimit = resource.getrlimit(resource.RLIMIT_NICE)[0] if rlimit is None else rlimit
    return rlimit == resource.RLIM_INFINITY or 20 - rlimit <= nice


def _effective_caps() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def _group(pid: int) -> tuple[int, int]:
    """A process group leader we started: the group, its helpers too; else the process."""
    try:
        if os.getpgid(pid) == pid:
            return os.PRIO_PGRP, pid
    except OSError:
        pass
    return os.PRIO_PROCESS, pid


def _leads_session(pid: int) -> bool:
    """Only a session of its own: another's autogroup would be the agent's, or a user's."""
    try:
        return os.getsid(pid) == pid
    except OSError:
        return False


def _write_autogroup(pid: int, nice: int) -> None:
    with open(f"/proc/{pid}/autogroup", "w", encoding="ascii") as f:
        f.write(str(nice))
