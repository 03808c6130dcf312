"""Processes on this machine: the local Host (see zerodown.protocols.Host).

A process is named by its pid *and* the kernel's start time of that pid
(/proc/<pid>/stat field 22), so a reused pid is never mistaken for ours
(zerodown/hosts/process_identity.py).
Children spawned here are kept in a table so they can be reaped and their
exit code reported. Both the local runtime (instances) and the router drivers
(the proxy, HAProxy, nginx they start) find, wait for and signal processes
through this; an SSH host provides the same interface for another machine. A host's
files and short commands (a router's): zerodown/hosts/files.py.
"""

from __future__ import annotations

import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from zerodown.errors import RuntimeFailure
from zerodown.hosts import exits, files, priority, stamper
from zerodown.hosts.log_prune import Bounds
from zerodown.hosts.process_identity import proc_stat, start_time

KILL_WAIT = 10.0     # how long a SIGKILLed process may take to disappear
POLL = 0.02          # how often a waiting loop looks again

_children: dict[int, subprocess.Popen] = {}  # spawned here, so they can be reaped
_children_lock = threading.Lock()
_stampers: dict[str, int] = {}  # log path -> pid of the stamper writing it (settle_log)
_logs: dict[int, Path] = {}  # pid -> its log, until its exit is recorded there (_poll)


def processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every process whose command line can be read."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    yield int(entry.name), f.read().decode(errors="replace").split("\0")
            except OSError:
                continue


def parent_of(pid: int) -> int | None:
    """The parent pid of `pid` (/proc/<pid>/stat field 4); None if it is gone."""
    fields = proc_stat(pid)
    return int(fields[1]) if fields is not None else None


def running(pid: int | None, started: int | None) -> bool:
    """Is `pid` still the process that started at `started` (not a reuse of its number)?"""
    if pid is None or started is None:
        return False
    _reap(pid)
    return start_time(pid) == started


def spawn(argv: list[str], *, cwd: str | None, env: dict[str, str] | None, log_path: Path,
          banner: str, stamp: bool = False,
          bounds: Bounds | None = None) -> subprocess.Popen:
    """Start `argv` in its own session with stdout and stderr appended to `log_path`;
    with `stamp`, each line prefixed with its time (zerodown/hosts/stamper.py). The
    instance is started first and the stamper after it (its lines wait in the pipe
    meanwhile): the stamper's own start is not in the way of the instance's. With `bounds`
    too (keep_ended, max_size), the stamper rotates the log past half of max_size and its
    end prunes the ended instances' logs beside this one (zerodown/hosts/log_prune.py)."""
    with _log_for(log_path, banner) as log:
        if not stamp:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        else:
            proc = _spawn_stamped(argv, cwd, env, log, bounds)
    with _children_lock:
        _children[proc.pid] = proc
        _logs[proc.pid] = log_path
    return proc


class LogUnwritable(OSError):
    """The instance's log file cannot be opened or written (its disk full): nothing was
    started. Not the program's failure: a full disk was reported as `cannot run
    '/usr/bin/python3': No space left on device`."""


def _log_for(log_path: Path, banner: str):
    """The log opened for appending (unbuffered: a failed write leaves nothing behind to
    fail again at close), its banner written; LogUnwritable naming the file otherwise."""
    log = None
    try:
        log = open(log_path, "ab", buffering=0)
        log.write(f"--- zerodown {time.strftime('%Y-%m-%d %H:%M:%S')}: {banner}\n".encode())
        return log
    except OSError as e:
        if log is not None:
            log.close()
        raise LogUnwritable(e.errno, e.strerror, str(log_path)) from None


def _spawn_stamped(argv: list[str], cwd: str | None, env: dict[str, str] | None,
                   log, bounds: Bounds | None) -> subprocess.Popen:
    """The instance writing into a pipe, then its stamper (zerodown/hosts/stamper.py)
    reading it into `log`. Neither keeps the other's end, so the stamper sees EOF when
    the instance ends."""
    read, write = os.pipe()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=write, stderr=subprocess.STDOUT,
                                start_new_session=True)
        os.close(write)
        write = -1
        try:
            _stampers[log.name] = stamper.start(read, log, bounds)  # start() reaped the ended:
            for path, pid in list(_stampers.items()):  # a long-lived agent forgets them
                if not stamper.tracked(pid):
                    del _stampers[path]
        except OSError:
            # no reader: the instance would die of SIGPIPE at its first line, unrecorded
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    finally:
        os.close(read)
        if write != -1:
            os.close(write)
    return proc


def settle_log(path: Path | str, timeout: float = 1.0) -> None:
    """Let the stamper writing `path` (started here) finish, for at most `timeout`: call it
    once the instance has exited, before reading its last lines."""
    pid = _stampers.pop(str(path), None)
    if pid is not None:
        stamper.wait(pid, timeout)


def exit_code(pid: int) -> int | None:
    """How a process spawned here ended (negative: by that signal); None if unknown or running."""
    proc = _children.get(pid)
    return None if proc is None else _poll(proc)


def _poll(proc: subprocess.Popen) -> int | None:
    """Popen.poll(), and the exit, the first time it is seen, recorded in the process's
    log for whoever asks later, in this process or another (zerodown/hosts/exits.py)."""
    code = proc.poll()
    if code is not None:
        log = _logs.pop(proc.pid, None)  # one thread wins the pop: recorded once
        if log is not None:
            exits.record(log, proc.pid, code)
    return code


def forget(pid: int) -> None:
    """Drop a stopped child from the table (its exit code is no longer asked for)."""
    with _children_lock:
        proc = _children.pop(pid, None)
    if proc is not None:
        _poll(proc)
    _logs.pop(pid, None)  # still running: nobody here will see its exit


def reap_ended() -> None:
    """Collect every child that ended (a long-running agent's stopped instances: their
    stop may have come through another session; and their log stampers)."""
    with _children_lock:
        procs = list(_children.values())
    for proc in procs:
        _poll(proc)
    stamper.reap()


def _reap(pid: int) -> None:
    proc = _children.get(pid)
    if proc is not None:
        _poll(proc)


def terminate(pid: int, started: int, grace: float, what: str,
              yielded: dict | None = None) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds; return once it is gone.
    `yielded`: its priority before priority.lower(), given back after half of `grace` at
    the latest, so that it has half its grace at least at its own priority."""
    if not running(pid, started):
        return
    signal_group(pid, signal.SIGTERM)
    await_exit(pid, started, time.monotonic(), grace, what, yielded)


def await_exit(pid: int, started: int, sent: float, grace: float, what: str,
               yielded: dict | None = None) -> None:
    """The rest of a stop whose SIGTERM was sent at `sent` (time.monotonic(): on Linux
    CLOCK_MONOTONIC, one clock for every process of this boot, so the sender may be
    another process): `yielded` given back at sent + grace/2, SIGKILL at sent + grace
    if it still runs then (at once if that is past); return once it is gone."""
    if yielded:
        if wait_gone(pid, started, sent + grace / 2 - time.monotonic()):
            return
        if running(pid, started):
            priority.give_back(pid, yielded)
    if wait_gone(pid, started, sent + grace - time.monotonic()):
        return
    signal_group(pid, signal.SIGKILL)
    if not wait_gone(pid, started, KILL_WAIT):
        raise RuntimeFailure(f"{what} (pid {pid}) still runs {KILL_WAIT:g}s after SIGKILL "
                             f"(SIGTERM was {grace:g}s before)")


def wait_gone(pid: int, started: int, timeout: float) -> bool:
    """Has the process `pid` started at `started` ended within `timeout` seconds?

    Waits on a pidfd (Linux >= 5.3; it works for processes that are not our children),
    which becomes readable the moment the process exits, instead of looking every POLL:
    a deployment ends when its last old instance has exited, so the up to 20 ms a look
    came late were on its critical path. The pidfd is opened before the identity check,
    so if `pid` is still ours then, the pidfd names our process and not a later one
    with the same number. Without pidfds (or if one says ready while the process still
    runs) it looks every POLL as before."""
    deadline = time.monotonic() + timeout
    fd = pidfd(pid)
    try:
        while running(pid, started):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if fd is None:
                time.sleep(min(POLL, left))
            elif readable(fd, left) and running(pid, started):
                os.close(fd)  # ready yet still there: look every POLL, never spin on it
                fd = None
        return True
    finally:
        if fd is not None:
            os.close(fd)


def pidfd(pid: int) -> int | None:
    """A pidfd of `pid` (readable once it exits); None without pidfds or if it is gone.
    Open it before checking `pid` is still ours: then it names that process, not a later
    one with the same number."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfds here, or the process is gone already
        return None


def readable(fd: int, timeout: float, poller=None) -> bool:
    """Has `fd` become readable within `timeout` s (a pidfd: has its process exited)?
    `poller`: a select.poll() `fd` is registered with (a loop asking again and again)."""
    if poller is None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(1, math.ceil(timeout * 1000))))


def signal_group(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:  # a session leader we started: its helpers go too
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def tail(path: Path | str, lines: int, max_bytes: int = 64 * 1024) -> list[str]:
    """The last `lines` lines of a log (reading at most its last `max_bytes`, its rotated
    part's too: files.end_of), [] if there is none."""
    data = files.end_of(path, max_bytes)
    return [] if data is None else data.decode(errors="replace").splitlines()[-lines:]


def send_signal(pid: int, started: int | None, signum: int, group: bool = False) -> bool:
    """Signal `pid` (with `group`, its process group) if it is still the process that
    started at `started`; False if it is gone."""
    if started is not None and not running(pid, started):
        return False
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def argv_of(pid: int) -> list[str] | None:
    """The command line of `pid` as it shows it (a process may retitle itself: nginx);
    None if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.decode(errors="replace").rstrip("\0").split("\0")


def children(pid: int) -> list[tuple[int, int, list[str]]]:
    """(pid, start time, command line) of the running children of `pid`."""
    try:  # the kernel's list (CONFIG_PROC_CHILDREN): no scan of every process
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids = [int(c) for c in f.read().split()]
    except FileNotFoundError:
        pids = [] if not os.path.exists(f"/proc/{pid}") else \
            [child for child, _ in processes() if parent_of(child) == pid]
    except OSError:
        pids = [child for child, _ in processes() if parent_of(child) == pid]
    found = []
    for child in pids:
        started, argv = start_time(child), argv_of(child)
        if started is not None and argv is not None:
            found.append((child, started, argv))
    return found


def code_root() -> str:
    """The folder `python -m zerodown` runs this zerodown from (for the proxy a router starts)."""
    return str(Path(__file__).resolve().parent.parent.parent)


class LocalHost:
    """The Host protocol over this machine's /proc and signals: `host.running(pid, started)`."""

    name = "localhost"
    poll = POLL
    processes = staticmethod(processes)
    start_time = staticmethod(start_time)
    parent_of = staticmethod(parent_of)
    running = staticmethod(running)
    spawn = staticmethod(spawn)
    exit_code = staticmethod(exit_code)
    forget = staticmethod(forget)
    terminate = staticmethod(terminate)
    wait_gone = staticmethod(wait_gone)
    tail = staticmethod(tail)
    read_text = staticmethod(files.read_text)
    write_text = staticmethod(files.write_text)
    remove = staticmethod(files.remove)
    makedirs = staticmethod(files.makedirs)
    size = staticmethod(files.size)
    run = staticmethod(files.run)
    send_signal = staticmethod(send_signal)
    argv_of = staticmethod(argv_of)
    ask_unix = staticmethod(files.ask_unix)
    ask_unix_many = staticmethod(files.ask_unix_many)
    batch = staticmethod(files.batch)
    children = staticmethod(children)
    code_root = staticmethod(code_root)
    python = sys.executable   # the interpreter a router starts the embedded proxy with
    remote = False            # its paths are this machine's

    @staticmethod
    def unix_path(path: str) -> str:
        """Where this machine connects to reach the unix socket `path` of the host: itself."""
        return path


LOCAL = LocalHost()
