"""A small disk of its own for a test, and filling it: a full disk for real.

    with small_disk(tmp_path / "disk", "2m") as real:   # a tmpfs (root), else a plain dir
        ...
        with filled(tmp_path / "disk"):                  # every byte taken until the block ends
            ...
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def small_disk(path: Path, size: str = "32m") -> Iterator[bool]:
    """A tmpfs of `size` at `path` (root only); yields whether it is a real mount."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path) -> Path:
    """Take every byte of `folder`'s file system with one file; returns it (unlink frees)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


@contextlib.contextmanager
def filled(folder: Path) -> Iterator[None]:
    """Every byte of `folder`'s file system taken, until the block exits."""
    filler = fill(folder)
    try:
        yield
    finally:
        filler.unlink()
