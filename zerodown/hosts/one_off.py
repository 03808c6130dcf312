"""A one-off command where the app runs (`zerodown exec`): on this machine, or on a fleet
host as `python3 -m zerodown.hosts.one_off` over an SSH channel of its own.

    echo '{"argv": ["bin/migrate"], "cwd": "...", "env": {...}, "timeout": 3600,
           "release": "/var/lib/zerodown/releases/shop/v3"}' | python3 -m zerodown.hosts.one_off
    stdout: the command's output (its stdout and stderr as one stream, as it is written)
    stderr: {"code": 0, "seconds": 1.25}     one line: how it ended (outcome())

The command runs in a process group of its own, so all of it can be stopped: past
`timeout`, or on a host when our stdin ends (the caller went away: Ctrl-C, a connection
lost), its group gets SIGTERM, then SIGKILL after KILL_GRACE. When it exits, what it left
running in its group is stopped the same way (as a terminal's hangup would): a helper
holding the channel's output open would keep the caller waiting for an end. How it ended
is a line of its own on stderr, so the command's exit code is never confused with ours.
Standard library only: the agent's bundle carries it to the hosts (hosts/ssh.py).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

KILL_GRACE = 2.0  # s between SIGTERM and SIGKILL of a command stopped
TICK = 0.05       # s between two looks whether it exited (a one-off: no pidfd needed)


def run(argv: list[str], cwd: str, env: dict[str, str], timeout: float,
        hangup_fd: int | None = None, terminal: int | None = None, **streams) -> dict:
    """Run `argv` to its end, `timeout` or a hangup (`hangup_fd` readable at EOF);
    outcome(): {"code": n} | {"signal": n} | {"timeout": s} | {"hangup": True} |
    {"error": why}, with "seconds". `streams`: Popen's stdin/stdout/stderr (inherited if
    not given). `terminal`: a tty fd (our stdin) whose foreground the command gets while
    it runs, so a console reads it and Ctrl-C reaches the command, as in a shell."""
    started = time.monotonic()
    if not os.path.isdir(cwd):
        return {"error": f"working directory {cwd} does not exist", "seconds": 0.0}
    try:
        # a group of its own in our session (not setsid): it may have our terminal
        proc = subprocess.Popen(argv, cwd=cwd, env=env, preexec_fn=os.setpgrp, **streams)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in an argument
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return {"error": f"cannot start {argv[0]!r}: {why}", "seconds": 0.0}
    given = _foreground(terminal, proc.pid)
    try:
        ended = _wait(proc, started + timeout, hangup_fd)
    except BaseException:  # interrupted here: leave nothing of it running behind us
        _stop_group(proc)
        raise
    finally:
        _foreground(given, os.getpgrp())
    _stop_group(proc)  # its leader is gone (or the bound passed): the rest of its group
    seconds = round(time.monotonic() - started, 3)
    if ended == "timeout":
        return {"timeout": timeout, "seconds": seconds}
    if ended == "hangup":
        return {"hangup": True, "seconds": seconds}
    code = proc.returncode
    return {"code": code, "seconds": seconds} if code >= 0 else \
        {"signal": -code, "seconds": seconds}


def _wait(proc: subprocess.Popen, deadline: float, hangup_fd: int | None) -> str:
    """"exited", "timeout" or "hangup" (our stdin ended: nobody reads the output now)."""
    while proc.poll() is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        if hangup_fd is None:
            time.sleep(min(TICK, left))
        elif select.select([hangup_fd], [], [], min(TICK, left))[0] and \
                not os.read(hangup_fd, 4096):
            return "hangup"
    return "exited"


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the command's process group, SIGKILL what is left after KILL_GRACE."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + KILL_GRACE
        while _group_alive(proc) and time.monotonic() < deadline:
            time.sleep(TICK / 5)
    proc.wait()


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reaped, the leader no longer counts
    try:
        os.killpg(proc.pid, 0)
        return True
    except ProcessLookupError:
        return False


def _foreground(fd: int | None, pgid: int) -> int | None:
    """Make `pgid` the foreground group of the terminal `fd`; the fd, or None if not done."""
    if fd is None:
        return None
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # asked from the background
    try:
        os.tcsetpgrp(fd, pgid)
        return fd
    except OSError:  # not our controlling terminal: the command shares it as it is
        return None
    finally:
        signal.signal(signal.SIGTTOU, old)


def outcome_text(outcome: dict, what: str) -> str | None:
    """How the command `what` failed, for a line naming the host; None if it succeeded."""
    if outcome.get("code") == 0:
        return None
    if "code" in outcome:
        return f"{what} exited {outcome['code']} after {outcome['seconds']:g}s"
    if "signal" in outcome:
        try:
            name = signal.Signals(outcome["signal"]).name
        except ValueError:
            name = f"signal {outcome['signal']}"
        return f"{what} was killed by {name} after {outcome['seconds']:g}s"
    if "timeout" in outcome:
        return (f"{what} did not end within --timeout {outcome['timeout']:g}s: its process "
                f"group was stopped (SIGTERM, then SIGKILL)")
    if "hangup" in outcome:
        return f"{what} was stopped: the caller went away"
    return str(outcome.get("error") or outcome)


def _missing_release(release: str | None) -> str | None:
    """Why the release folder cannot be used, naming those the host has; None if it can."""
    from zerodown.hosts.releases import read_manifest  # only for this (it reads no more)
    if release is None or read_manifest(release) is not None:
        return None
    base = os.path.dirname(release)
    try:
        have = sorted(n for n in os.listdir(base)
                      if read_manifest(os.path.join(base, n)) is not None)
    except OSError:
        have = []
    return (f"release {os.path.basename(release)} is not on this host ({release}; it has "
            f"{', '.join(have) or 'none'})")


def main() -> int:
    """One request on stdin, the command's output on stdout, its outcome on stderr."""
    request = json.loads(sys.stdin.buffer.readline())
    missing = _missing_release(request.get("release"))
    if missing is not None:
        outcome = {"error": missing, "seconds": 0.0}
    else:
        sys.stdout.flush()
        outcome = run(request["argv"], request["cwd"], request["env"], request["timeout"],
                      hangup_fd=sys.stdin.fileno(), stdin=subprocess.DEVNULL,
                      stdout=sys.stdout.fileno(), stderr=subprocess.STDOUT)
    sys.stderr.write(json.dumps(outcome) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
