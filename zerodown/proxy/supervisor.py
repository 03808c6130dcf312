"""The proxy's supervisor: it owns the listening sockets and restarts the serving process.

`zerodown proxy` runs as two processes. The supervisor binds the public and
admin sockets (or takes them over from a running proxy, handover.py), forks
the serving process, and waits. If that process dies in any way but a
handover -- SIGKILL, a crash, a SIGTERM sent to it alone -- the supervisor
forks a new one at once (a fork: nothing to import, it serves within
milliseconds), which loads the saved routing table (state.py; the table is
durable before it is acted on) and counts its backends healthy, as kamal-proxy
does on restore. The listening sockets never close meanwhile, so a client
connecting during the gap waits in the accept queue instead of being
refused; only the connections the dead process held are lost, and a client
that retries an idempotent request sees nothing of it.

SIGKILL of the supervisor itself: the serving process keeps serving (it holds
the same sockets), unsupervised; its /healthz says `"supervisor": null`, and
the next `zerodown up`, CLI call or controller that ensures the proxy runs
adopts it by a hitless handover to a new supervisor (routers/embedded.py).
Both killed at once: the sockets close, and the next ensure starts afresh.

A serving process that dies is restarted at once; if its successor also dies within a
second of its start, the next restart waits a delay that doubles up to MAX_BACKOFF, so a
crash loop cannot spin (restart_delay). One quick death is not a loop: a process killed
soon after the proxy started (an operator, the OOM killer) has its clients waiting in
the accept queue, and each millisecond of delay is theirs.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import traceback
from typing import Callable

HANDED_OVER = 0   # the serving process gave its sockets to a successor: the supervisor ends
STOPPED = 3       # the serving process was told to stop (SIGTERM/SIGINT)
READY_TIMEOUT = 15.0
MAX_BACKOFF = 5.0


def restart_delay(quick: int) -> float:
    """Seconds before restarting a serving process that died, `quick` being the deaths in
    a row within a second of their start (0: this one had lived longer): none for the
    first, then 0.05 s doubling up to MAX_BACKOFF."""
    return 0.0 if quick <= 1 else min(MAX_BACKOFF, 0.05 * 2 ** (quick - 2))


def describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return "stopped" if code == STOPPED else f"exited with code {code}"


class Supervisor:
    """`serve(ready_fd, first)` runs in each forked child and returns its exit code;
    `release()` closes the supervisor's own copies of the sockets once it stops (else the
    kernel would go on queueing connections nobody will accept, to reset them at exit)."""

    def __init__(self, serve: Callable[[int, bool], int], say: Callable[[str], None],
                 release: Callable[[], None]):
        self.serve, self.say, self.release = serve, say, release
        self.child = 0
        self.born = 0.0  # time.monotonic() when the child was forked
        self.stopping = False
        self.restarts = 0

    def on_signal(self, sig: int, _frame: object) -> None:
        if not self.stopping:
            self.stopping = True
            self.release()
        if self.child:
            try:
                os.kill(self.child, sig)  # the serving process drains and exits
            except ProcessLookupError:
                pass

    def on_hangup(self, _sig: int, _frame: object) -> None:
        """SIGHUP is "reload" (the certificates): the serving process does it, not us."""
        if self.child:
            try:
                os.kill(self.child, signal.SIGHUP)
            except ProcessLookupError:
                pass

    def start(self) -> int | None:
        """Fork the first serving process; its pid once ready, None (reaped) if it failed."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        signal.signal(signal.SIGHUP, self.on_hangup)
        pid, ready = self._fork(first=True)
        if self._ready(pid, ready):
            return pid
        self.exit_code = self._reap(pid)
        return None

    def watch(self) -> int:
        """Restart the serving process whenever it dies, until a handover or a stop."""
        quick = 0  # deaths in a row within a second of their start
        while True:
            status = self._wait(self.child)
            if os.waitstatus_to_exitcode(status) == HANDED_OVER or self.stopping:
                return 0
            quick = quick + 1 if time.monotonic() - self.born <= 1.0 else 0
            backoff = restart_delay(quick)
            self.say(f"zerodown proxy: the serving process (pid {self.child}) {describe(status)}; "
                     f"restarting it" + (f" in {backoff:g}s" if backoff else ""))
            if backoff and self._sleep(backoff):
                return 0
            t0 = time.monotonic()
            pid, ready = self._fork(first=False)
            if self._ready(pid, ready):
                self.restarts += 1
                self.say(f"zerodown proxy: serving again: pid={pid} "
                         f"{(time.monotonic() - t0) * 1000:.0f} ms after the restart began")

    # -- helpers -----------------------------------------------------------------
    def _fork(self, first: bool) -> tuple[int, int]:
        r, w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the serving process
            os.close(r)
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the loop handles it
                code = self.serve(w, first)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(w)
        self.child, self.born = pid, time.monotonic()
        return pid, r

    def _ready(self, pid: int, ready: int) -> bool:
        """Wait for the child's byte on `ready` (EOF: it died; bounded)."""
        try:
            watch = select.poll()  # not select(): it refuses an fd past 1023
            watch.register(ready, select.POLLIN)
            deadline = time.monotonic() + READY_TIMEOUT
            while (left := deadline - time.monotonic()) > 0:
                if watch.poll(left * 1000):
                    return os.read(ready, 1) == b"R"
            self.say(f"zerodown proxy: the serving process (pid {pid}) was not ready within "
                     f"{READY_TIMEOUT:g}s; killing it")
            os.kill(pid, signal.SIGKILL)
            return False
        finally:
            os.close(ready)

    def _wait(self, pid: int) -> int:
        while True:
            try:
                return os.waitpid(pid, 0)[1]
            except ChildProcessError:
                return 0

    def _reap(self, pid: int) -> int:
        code = os.waitstatus_to_exitcode(self._wait(pid))
        return code if code > 0 else 1

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped meanwhile; True if stopped."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, deadline - time.monotonic()))
        return self.stopping
