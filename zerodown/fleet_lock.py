"""The machine-wide lock of a practice fleet's fixed names (zerodown/practice_fleet.py:
zdf1.., the bridge zdfbr0, 10.231.77.0/24): one fleet at a time per machine, whoever
builds it (`zerodown demo --fleet`, the fleet tests, the fleet benchmarks)."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import TextIO

LOCK = Path("/run/zerodown-fleet.lock")


class FleetLock:
    """The machine-wide lock of the fleet's fixed names: taken at once if free, else after
    saying who holds it (a test run, a benchmark, another demo), never silently."""

    def __init__(self, path: Path = LOCK):
        self.path = path
        self._file: TextIO | None = None

    def __enter__(self) -> FleetLock:
        self._file = file = open(self.path, "a")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {self.path}: another fleet holds it{_holder(self.path)}; "
                  f"its hosts have the same names (zdf*), so one fleet at a time on a "
                  f"machine (Ctrl-C gives up) ...", file=sys.stderr, flush=True)
            fcntl.flock(file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _holder(path: Path) -> str:
    """`(pid N: its command line)` of the process holding the flock on `path`, if found."""
    st = os.stat(path)
    for line in Path("/proc/locks").read_text().splitlines():
        words = line.split()  # "1: FLOCK ADVISORY WRITE <pid> <major>:<minor>:<inode> 0 EOF"
        if len(words) < 6 or words[1] != "FLOCK" or "->" in words:  # "->": a waiter
            continue
        major, minor, inode = words[5].split(":")
        if (int(inode), int(major, 16), int(minor, 16)) == \
                (st.st_ino, os.major(st.st_dev), os.minor(st.st_dev)):
            try:
                argv = Path(f"/proc/{words[4]}/cmdline").read_bytes().split(b"\0")
            except OSError:
                return f" (pid {words[4]})"
            line = " ".join(b" ".join(argv).decode(errors="replace").split())
            return f" (pid {words[4]}: {line[:100]})"
    return ""
