"""What a command says of a controller that does not answer: who it is (the pid holding
controller.lock beside its socket), where it was asked and for how long, what its
process is doing as the kernel sees it (a stopped process answers nobody, however long
one waits), and what to do.

Imported by the client only once a controller did not answer: nothing here is on the
way of a `zerodown status` that got its answer.
"""

from __future__ import annotations

import os

# /proc/PID/stat's state letter, for the states in which a process cannot answer soon
STATES = {
    "T": "its process is stopped (SIGSTOP, a debugger or a shell's Ctrl-Z; `kill -CONT {pid}` "
         "lets it go on)",
    "t": "its process is stopped by a debugger (traced; it goes on once the debugger lets it)",
    "D": "its process waits in the kernel (a disk or network filesystem that does not answer)",
    "Z": "its process has exited (a zombie its parent has not reaped)",
}


def holder_beside(socket_path: str) -> int | None:
    """The pid of the controller whose socket this is: whoever holds controller.lock beside
    it (daemon/process.pid asks the same), if anyone."""
    from zerodown.engine.service_lock import lock_holder
    return lock_holder(os.path.join(os.path.dirname(socket_path), "controller.lock"))


def state_said(stat: str, pid: int) -> str | None:
    """What the state letter of a /proc/PID/stat line says of a process that cannot answer;
    None for a running or sleeping one (it is at work, or waits on something of its own)."""
    fields = stat.rpartition(")")[2].split()  # the name before it may hold spaces and ")"
    note = STATES.get(fields[0]) if fields else None
    return note.format(pid=pid) if note else None


def state_of(pid: int | None) -> str | None:
    """state_said of `pid` on this machine, if it can be read."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            return state_said(f.read(), pid)
    except OSError:
        return None


def who(pid: int | None) -> str:
    return f"the controller (pid {pid})" if pid else "the controller"


def busy(where: str, timeout: float, pid: int | None) -> str:
    """What a command says of a controller that accepted its connection and did not answer:
    it runs (a second one beside it would not get its lock), it is busy, where to look."""
    state = state_of(pid)
    return (f"{who(pid)} is busy: no answer on {where} within {timeout:g}s"
            + (f"; {state}" if state else f"; it goes on by itself ({_log(pid)} says what it "
                                          "does)")
            + f": ask again later{_stop(pid)}")


def unresponsive(where: str, probe: float, pid: int | None, asked: str, waited: float) -> str:
    """What a command says when the controller stops answering while it is on the command's
    action: its status (answered from memory) went unanswered too, so it is not at work on
    the action but stuck, and waiting out the action's bound would say nothing more."""
    state = state_of(pid) or f"{_log(pid)} says what it did last"
    return (f"{who(pid)} stopped answering while on {asked} ({waited:.0f}s in): its status "
            f"went unanswered on {where} within {probe:g}s; {state}. Whether it took {asked} "
            f"shows in `zerodown status` once it answers{_stop(pid)}")


def _log(pid: int | None) -> str:
    """Where its log is read: here, or (--server, no pid of this machine) where it runs; a
    `zerodown logs controller` here reads this folder's, not the one asked."""
    return "`zerodown logs controller`" + ("" if pid else " on the controller's machine")


def _stop(pid: int | None) -> str:
    if not pid:  # --server: not a process of this machine
        return ""
    return ("; if it stays so, `zerodown controller --stop` stops it (the next command starts "
            "it again, and it resumes its deployment)")
