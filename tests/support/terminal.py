"""A command on a pseudo-terminal of its own, as typed in a shell: the terminal is its
controlling one, its group the foreground (a Ctrl-C byte not read raw would SIGINT it).

    with Terminal(["zerodown", "exec", "-i", "--", "irb"], cwd=root) as term:
        term.expect(b"irb(main)")
        term.write(b"1 + 1\\r")
        term.wait(20)           # its exit code
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import termios
import threading
import time


class Terminal:
    def __init__(self, argv: list[str], **popen):
        self.master, slave = os.openpty()
        self.output = b""
        self._lock = threading.Lock()
        try:
            # setsid (start_new_session) before preexec_fn: then the terminal becomes ours
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0), **popen)
        finally:
            os.close(slave)
        threading.Thread(target=self._read, daemon=True, name="terminal").start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: every holder of its other side closed it
                return
            if not data:
                return
            with self._lock:
                self.output += data

    def expect(self, text: bytes, timeout: float = 20.0) -> None:
        """Wait until `text` was shown; AssertionError naming all that was."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown within {timeout:g}s; the terminal "
                                     f"showed {self.output!r}")
            time.sleep(0.01)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def local_modes(self) -> int:
        """The terminal's lflag now (ECHO, ICANON... set unless a program made it raw)."""
        return termios.tcgetattr(self.master)[3]

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)
