"""The log stamper beside each instance: every line it writes prefixed with the local time
it was read (`2026-12-03T17:10:01.123 `), for `zerodown logs` (--since, all instances
merged). Standard library only: zerodown's agent runs it on the ssh hosts.

    pid = start(read_fd, log_file)   # reads the instance's pipe until every writer closed it

It runs in a session of its own (a stop of the instance's group leaves it to write the last
lines) and ends with the instance and its children, when the pipe has no writer left. One
code (STAMPER), started one of two ways:

- forked from this process when it has one thread: zerodown's agent, which starts every
  instance of an ssh host. No interpreter starts: ~1 ms where a `python3 -S` start costs
  40-50 ms of CPU, which the instance starting at the same moment waits for on a busy
  host (rolling on the test fleet, 3 hosts: a batch was ready ~80 ms later with them). The
  code is compiled once here and each child runs it (compiling it costs ~1.5 ms of CPU);
- else a new interpreter without site (-S), needing nothing installed: a fork of a process
  with other threads (the controller, for the local runtime) could copy a lock one of them
  holds into a child that then waits for it forever.

The forked stamper keeps only the pipe, the log and /dev/null: the agent's stdin and stdout
are its SSH channel, which must close when the agent ends, not when an instance does.

Given `bounds` (an instance's log, from InstanceTable: zerodown.yaml's `logs:`, sent in the
instance's record), a stamper bounds its log and those of the ended instances beside it:
- past half of logs.max_size its log is renamed <instance>.log.1 (replacing the one
  before) and a new one begun, as logrotate's `rotate 1` or docker's max-size: the two
  hold at most max_size, the newest half at least (`zerodown logs` reads both, .1 first:
  hosts/files.py read_log);
- at its end, it prunes the logs of the ended instances beside it
  (zerodown/hosts/log_prune.py) down to logs.keep_ended once its service's logs number
  more than twice that: its instance has exited, and no deployment waits for a stamper's
  end (a crash report's settle_log waits for its last lines, up to 1 s: the prune adds
  one scan of the log folder to that).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from typing import IO

# imported here, in the agent: a forked stamper's prune at its end then costs no import
from zerodown.hosts.log_prune import Bounds

# A line the log cannot take (its disk full) is dropped and counted, and the stamper reads
# on: ended, it left the instance's pipe without a reader, and the instance's next line
# killed it (SIGPIPE; BrokenPipeError in Python), so a full disk stopped every instance
# of the host that logs. The first line written again says how many were lost and why.
STAMPER = r"""
import os, sys, time
if __name__ == "__main__":  # a new interpreter: [zerodown's folder, keep, max_size] if bounded
    BOUNDS = sys.argv[1:]
src, lost, why = os.fdopen(0, "rb", closefd=False), 0, ""
log = os.readlink("/proc/self/fd/1") if BOUNDS else ""  # its path: renamed at a rotation
# logs.max_size: past half of it the log is renamed <instance>.log.1 (the one before goes)
# and a new one begun, so the two hold at most max_size and the newest half at least
half = int(BOUNDS[2]) // 2 if BOUNDS and log.endswith(".log") else 0
size = os.fstat(1).st_size if half else 0
while True:
    line = src.readline(65536)
    if not line:
        break
    t = time.time()
    stamp = (time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)).encode()
             + b".%03d " % int(t % 1 * 1000))
    data = stamp + line
    if lost:
        data = stamp + (b"--- zerodown: %d lines lost, the log could not be written: %s\n"
                        % (lost, why.encode())) + data
    if half and size and size + len(data) > half:
        # the instance's lines have this one writer; the line its parent appends once it
        # reaped it (hosts/exits.py) opens the path anew: in the new log, or in .1 if it
        # came first, where the readers (files.read_log, end_of) find it all the same
        try:
            mode = os.fstat(1).st_mode & 0o777
            os.rename(log, log + ".1")
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
            os.dup2(fd, 1)
            os.close(fd)
            size = 0
        except OSError:  # written on where it is (or, renamed, as .1); tried again later
            size = size - half
    try:
        while data:
            wrote = os.write(1, data)
            data, size = data[wrote:], size + wrote
        lost = 0
    except OSError as e:
        lost, why = lost + 1, e.strerror or str(e)
if BOUNDS:  # the instance ended: a failed prune is tried again at the next stamper's end
    try:
        log = os.readlink("/proc/self/fd/1")  # ends in " (deleted)" if it was removed
        if log.endswith(".log"):
            folder, name = os.path.split(log[:-len(".log")])
            keep, mine = int(BOUNDS[1]), name[:name.rfind("-r") + 2]  # "shop-r": its service's
            # pruned down to `keep` ended, a service's logs grow to twice that before the
            # next prune: its import (~18 ms of CPU in a new interpreter) is paid once per
            # ~keep exits, not at each, on the cores a rollout's next batch boots on
            if sum(f.startswith(mine) and f.endswith(".log")
                   for f in os.listdir(folder)) > 2 * keep:
                sys.path.insert(0, BOUNDS[0])
                from zerodown.hosts.log_prune import prune
                prune(folder, keep=keep)
    except Exception:
        pass
"""
# the folder zerodown is imported from, for a new interpreter without site (-S)
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_execed: list[subprocess.Popen] = []
_forked: list[int] = []


def start(read: int, log: IO[bytes], bounds: Bounds | None = None) -> int:
    """Start a stamper reading the pipe end `read` into `log`; its pid. The caller closes
    its own copy of `read` (and of the write end, once the instance has it). With
    `bounds` (keep_ended, max_size), it rotates `log` past half of max_size, and at its
    end prunes the ended instances' logs beside `log` to keep_ended. Only zerodown's
    folder is on its command line, not the log's: nothing names the state directory
    (tests/support/cli.py finds a service's processes by it; a stamper ends on its own)."""
    reap()
    args = [_ROOT, str(bounds[0]), str(bounds[1] or 0)] if bounds else []
    if single_threaded():
        pid = _fork(read, log.fileno(), args)
        _forked.append(pid)
        return pid
    proc = subprocess.Popen([sys.executable, "-S", "-c", STAMPER, *args], stdin=read,
                            stdout=log, stderr=subprocess.DEVNULL, env={},
                            start_new_session=True)
    _execed.append(proc)
    return proc.pid


def single_threaded() -> bool:
    """Does this process have exactly one thread (the kernel's count: C threads too)?"""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False  # cannot tell: the new interpreter is always safe


def reap() -> None:
    """Collect the stampers that ended (their instances stopped)."""
    _execed[:] = [p for p in _execed if p.poll() is None]
    for pid in list(_forked):
        _collected(pid)


def _collected(pid: int) -> bool:
    """Has the forked stamper `pid` ended? If so it is collected and forgotten."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = pid  # collected already
    if done:
        _forked.remove(pid)
    return bool(done)


def tracked(pid: int) -> bool:
    """Is `pid` a stamper started here that was not seen to end yet?"""
    return pid in _forked or any(p.pid == pid for p in _execed)


def wait(pid: int, timeout: float) -> None:
    """Wait up to `timeout` for the stamper `pid` (started here) to end: once its instance
    exited, the instance's last lines may still be in the pipe or not yet read at all (the
    stamper started after the instance, slower on a busy machine), and a crash's reason is
    in them."""
    deadline = time.monotonic() + timeout
    for proc in _execed:
        if proc.pid == pid:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            return
    while pid in _forked and not _collected(pid) and time.monotonic() < deadline:
        time.sleep(0.005)  # a forked stamper's end has no fd to wait on here


@functools.lru_cache(maxsize=1)
def _compiled():
    return compile(STAMPER, "<zerodown log stamper>", "exec")


def _fork(read: int, log_fd: int, bounds: list[str]) -> int:
    code = _compiled()  # here, once: ~1.5 ms of CPU in each child, beside its instance's boot
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:  # the child: never returns into the caller's code
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(read, 0)
        os.dup2(log_fd, 1)
        os.dup2(null, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        exec(code, {"__name__": "__stamper__", "BOUNDS": bounds})
        status = 0
    finally:
        os._exit(status)
