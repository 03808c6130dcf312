"""A one-off command where the app runs (`zerodown exec`): on this machine, or on a fleet
host as `python3 -m zerodown.hosts.one_off` over an SSH channel of its own.

    echo '{"argv": ["bin/migrate"], "cwd": "...", "env": {...}, "timeout": 3600,
           "release": "/var/lib/zerodown/releases/shop/v3"}' | python3 -m zerodown.hosts.one_off
    stdout: the command's output (its stdout and stderr as one stream, as it is written)
    stderr: {"code": 0, "seconds": 1.25}     one line: how it ended (outcome())

`"stdin": true` (`zerodown exec -i`) gives the command the rest of our stdin. On a pipe
(no pseudo-terminal asked for) the command reads what follows the request line, and its
end is the input's end, no hangup: the caller going away is our stdout's reader closing.
On the channel's pseudo-terminal (ssh -t's) the command gets the terminal: its stdin,
stdout and stderr, and its foreground, so Ctrl-C's byte becomes its SIGINT there. The
request line is read with the terminal's echo and line editing off (the caller asks for
them off: it is not shown, and may be longer than a terminal line's 4095 bytes), then
they are put back on for the command. There is one stream on a terminal, so the outcome
ends it, framed by MARK (Trailer takes it out on the caller's side); the caller going
away hangs the terminal up, which signals us (its session leader) SIGHUP, not the
command: we stop its group as on any hangup.

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
import termios
import time
from typing import Callable

KILL_GRACE = 2.0  # s between SIGTERM and SIGKILL of a command stopped
TICK = 0.05       # s between two looks whether it exited (a one-off: no pidfd needed)
MARK = b"\x1b]zerodown-outcome;"  # on a terminal: the outcome follows, to the stream's end
                                   # (an OSC sequence, which a terminal shown it ignores)


def run(argv: list[str], cwd: str, env: dict[str, str], timeout: float,
        hangup: Callable[[float], bool] | None = None, terminal: int | None = None,
        **streams) -> dict:
    """Run `argv` to its end, `timeout` or a hangup (`hangup(within)`: waits up to that
    long, True when the caller went away: eof_of, reader_gone);
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
    if given is not None:
        # it runs before it has the foreground: touching the terminal meanwhile (a read, a
        # console setting raw mode) stopped it (SIGTTIN/SIGTTOU), and nothing would resume
        # it; a shell's job control continues a job it puts in the foreground the same way
        _continue(proc)
    try:
        ended = _wait(proc, started + timeout, hangup)
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


def _wait(proc: subprocess.Popen, deadline: float, hangup) -> str:
    """"exited", "timeout" or "hangup" (the caller went away: nobody reads the output)."""
    while proc.poll() is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        if hangup is None:
            time.sleep(min(TICK, left))
        elif hangup(min(TICK, left)):
            return "hangup"
    return "exited"


def eof_of(fd: int) -> Callable[[float], bool]:
    """A hangup that is `fd`'s end (our stdin, when the command does not read it)."""
    watch = select.poll()  # not select(): it refuses an fd past 1023
    watch.register(fd, select.POLLIN)
    return lambda within: bool(watch.poll(within * 1000)) and not os.read(fd, 4096)


def reader_gone(fd: int) -> Callable[[float], bool]:
    """A hangup that is the reader of the pipe `fd` (our stdout) closing it."""
    watch = select.poll()
    watch.register(fd, 0)  # no event asked: POLLERR / POLLHUP are always told
    return lambda within: bool(watch.poll(within * 1000))


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


def _continue(proc: subprocess.Popen) -> None:
    """SIGCONT to the command's group (nothing to a group that is gone)."""
    try:
        os.killpg(proc.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


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


# A one-off's exit status where none is the command's own: as timeout(1) past its bound,
# as a shell for a signal (128 + its number), as ssh where it could not tell or not run
TIMED_OUT, NOT_RUN = 124, 255


def exit_status(outcome: dict) -> int:
    """The status `zerodown exec` exits with for one host's outcome: the command's own
    (scripts can tell `grep`'s 1 from its 2), 128 + the signal that killed it, 124 past
    --timeout, 255 when it did not run or its end is unknown (ssh's convention)."""
    if "code" in outcome:
        return int(outcome["code"]) & 0xFF
    if "signal" in outcome:
        return 128 + int(outcome["signal"])
    if "timeout" in outcome:
        return TIMED_OUT
    if "hangup" in outcome:
        return 128 + signal.SIGHUP
    return NOT_RUN


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


def _request_line(fd: int) -> bytes:
    """Our stdin's first line, read a byte at a time: what follows is the command's."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


def _on_terminal(request: dict) -> dict:
    """Run the command on our terminal (the channel's pseudo-terminal), its foreground."""
    modes = termios.tcgetattr(0)
    modes[3] |= termios.ECHO | termios.ICANON  # off while the request line was sent
    termios.tcsetattr(0, termios.TCSANOW, modes)
    hung: list[int] = []  # the terminal hung up: SIGHUP to us, its session leader (the
    signal.signal(signal.SIGHUP, lambda sig, _: hung.append(sig))  # command gets none)
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        # a key typed before the command has the foreground is not ours to die of; a
        # handler (not SIG_IGN) is reset to the default by the command's exec
        signal.signal(sig, lambda *_: None)

    def hung_up(within: float) -> bool:
        if not hung:
            time.sleep(within)
        return bool(hung)
    return run(request["argv"], request["cwd"], request["env"], request["timeout"],
               hangup=hung_up, terminal=0)


def main() -> int:
    """One request on stdin, the command's output on stdout, its outcome on stderr (on a
    terminal: at the output's end, after MARK)."""
    request = json.loads(_request_line(0))
    terminal = request.get("stdin") and os.isatty(0)
    missing = _missing_release(request.get("release"))
    sys.stdout.flush()
    if missing is not None:
        outcome = {"error": missing, "seconds": 0.0}
    elif terminal:
        outcome = _on_terminal(request)
    elif request.get("stdin"):
        outcome = run(request["argv"], request["cwd"], request["env"], request["timeout"],
                      hangup=reader_gone(1), stdout=1, stderr=subprocess.STDOUT)
    else:
        outcome = run(request["argv"], request["cwd"], request["env"], request["timeout"],
                      hangup=eof_of(0), stdin=subprocess.DEVNULL, stdout=1,
                      stderr=subprocess.STDOUT)
    line = json.dumps(outcome).encode() + b"\n"
    try:
        os.write(1, MARK + line) if terminal else os.write(2, line)
    except OSError:  # the terminal hung up: nobody is left to tell
        pass
    return 0


class Trailer:
    """The caller's side of a terminal's stream: the output handed on, the outcome after
    MARK kept. Bytes that may begin MARK wait for the next data (an escape sequence
    split between two reads is held that long)."""

    def __init__(self, on_output: Callable[[bytes], None]):
        self.on_output, self.held = on_output, b""
        self.outcome: bytes | None = None

    def feed(self, data: bytes) -> None:
        if self.outcome is not None:
            self.outcome += data
            return
        data, self.held = self.held + data, b""
        at = data.find(MARK)
        if at >= 0:
            data, self.outcome = data[:at], data[at + len(MARK):]
        else:
            start = data.rfind(MARK[:1], max(0, len(data) - len(MARK) + 1))
            if start >= 0 and MARK.startswith(data[start:]):
                data, self.held = data[:start], data[start:]
        if data:
            self.on_output(data)

    def end(self) -> bytes | None:
        """The stream ended: what was held handed on; the outcome's bytes (None: none)."""
        if self.held:
            self.on_output(self.held)
            self.held = b""
        return self.outcome


if __name__ == "__main__":
    sys.exit(main())
