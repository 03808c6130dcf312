"""The small process a serving agent keeps to fork its instances' log stampers
(zerodown/hosts/stamper.py), so that none is forked from the agent itself. Standard
library only: it runs on the ssh hosts.

    forker = Forker.start(compiled)                   # at the agent's start, one thread
    pid, pidfd = forker.stamper(read, log_fd, prune)  # pidfd: readable once it ended

Why: a stamper forked from the agent made the agent's whole heap copy-on-write again, and
every page the agent wrote next (its next answers, the batch's next spawn) was copied, on
the cores the batch's instances were booting on. Three example apps booting at once on
2 cores: 91-93 ms with their output to /dev/null, 98-100 ms with a stamper forked from an
agent-sized process at each spawn, as close to the first with the stampers forked by a
process kept for it (benchmarks/stamper_boot.py). The forker is forked from the agent
once, at its start; it then writes almost nothing, so its own forks cost little more than
a page table's copy, and its children run the stamper's code compiled once.

It ends when the agent does (its socket's other end closes); the stampers, in sessions of
their own, go on. Being the forker's children, not the agent's, they are known to the
agent by a pidfd each (Linux 5.3, Python 3.9), which the forker opens before it could
collect them (no pid reused in between) and passes back. Without pidfds, the agent forks
its stampers itself (stamper.py); one that does not answer in time is killed and the
agent forks them itself from then on (never two stampers reading one pipe).
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket

# How long the agent waits for the forker's answer: a fork and a pidfd, milliseconds on a
# busy host; past this the forker is taken to be stuck (killed, not used again)
ANSWER_WAIT = 5.0
_FDS = array.array("i", [0]).itemsize


class ForkFailed(OSError):
    """The forker's fork of a stamper failed (no memory, no pids left): as a fork here
    would, not a reason to stop using the forker."""


class Forker:
    def __init__(self, pid: int, sock: socket.socket):
        self.pid, self._sock = pid, sock

    @classmethod
    def start(cls, compiled) -> "Forker | None":
        """Fork the forker, to run `compiled` (the stamper's code) in each stamper; None
        where the kernel or Python has no pidfds. Call it while this process has one
        thread (a fork copies only the calling thread: a lock another holds stays held)."""
        if not hasattr(os, "pidfd_open"):
            return None
        try:
            os.close(os.pidfd_open(os.getpid()))
        except OSError:  # ENOSYS: a kernel before 5.3
            return None
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            code_ = 1
            try:  # the forker: never returns into the caller's code
                mine.detach()  # its fd closed below with the rest, not by a close here
                _serve(theirs.fileno(), compiled)
                code_ = 0
            finally:
                os._exit(code_)
        theirs.close()
        mine.settimeout(ANSWER_WAIT)
        return cls(pid, mine)

    def stamper(self, read: int, log_fd: int, prune: list[str]) -> tuple[int, int]:
        """A stamper forked there reading `read` into `log_fd`: (its pid, a pidfd of it
        that the caller closes). ForkFailed if the fork failed there; any other OSError
        (the forker gone, stuck, or answering nonsense) means it is no longer usable."""
        self._sock.sendmsg([json.dumps(prune).encode()],
                           [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                             array.array("i", [read, log_fd]))])
        msg, fds = _receive(self._sock, 1)
        if msg.startswith(b"!"):
            for fd in fds:
                os.close(fd)
            raise ForkFailed(msg[1:].decode(errors="replace"))
        if not msg.isdigit() or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise OSError(f"the stamper forker answered {msg[:60]!r}")
        return int(msg), fds[0]

    def end(self) -> None:
        """Kill the forker and collect it: once this returns it forks nothing more (a
        request it holds unanswered is not acted on later). Its stampers go on."""
        self._sock.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _receive(sock: socket.socket, most: int) -> tuple[bytes, list[int]]:
    """One message and the fds it carried (OSError at the other end's close)."""
    msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(most * _FDS))
    fds = array.array("i")
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % _FDS])
    if not msg and not fds:
        raise ConnectionResetError("the other end of the stamper forker's socket closed")
    return msg, list(fds)


def _serve(sock_fd: int, compiled) -> None:
    """The forker's loop: a stamper forked for each request, until the agent's end."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the agent's SSH channel: it must close when the agent ends
        os.dup2(null, fd)
    os.closerange(3, sock_fd)
    os.closerange(sock_fd + 1, os.sysconf("SC_OPEN_MAX"))
    sock = socket.socket(fileno=sock_fd)
    sock.settimeout(None)
    signal.signal(signal.SIGCHLD, _collect)  # its stampers, as they end
    while True:
        try:
            msg, fds = _receive(sock, 2)
        except OSError:
            return  # the agent ended
        try:
            if len(fds) != 2:
                sock.send(b"!expected 2 fds")
                continue
            answer, pidfd = _fork(fds, json.loads(msg), compiled)
            sock.sendmsg([answer], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     array.array("i", [pidfd]))] if pidfd >= 0 else [])
            if pidfd >= 0:
                os.close(pidfd)
        except OSError:
            return
        finally:
            for fd in fds:
                os.close(fd)


def _fork(fds: list[int], prune: list[str], compiled) -> tuple[bytes, int]:
    """Fork the stamper; its pid and a pidfd opened before it could be collected (SIGCHLD
    held back in between), or an error answer and -1."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        try:
            pid = os.fork()
        except OSError as e:
            return b"!" + str(e).encode(), -1
        if pid == 0:
            _stamp(fds, prune, compiled)
        return b"%d" % pid, os.pidfd_open(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _stamp(fds: list[int], prune: list[str], compiled) -> None:
    status = 1
    try:  # the stamper: never returns into the forker's loop
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        os.setsid()
        read, log = fds
        os.dup2(read, 0)
        os.dup2(log, 1)  # fd 2 is /dev/null already
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        exec(compiled, {"__name__": "__stamper__", "PRUNE": prune})
        status = 0
    finally:
        os._exit(status)


def _collect(signum, frame) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
