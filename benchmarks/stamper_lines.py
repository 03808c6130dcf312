"""The log stamper's cost per line (zerodown/hosts/stamper.py), this checkout's against
another commit's: an instance's lines written through the pipe as fast as it takes them,
into a log on this machine's disk (default /var/tmp: /tmp may be memory), until the
stamper has written them all; lines per second, median of the rounds, both codes
alternating. Each stamper is started as the controller's local runtime starts it (a new
`python3 -S`); the agent's fork runs the same code.

    .venv/bin/python benchmarks/stamper_lines.py --against 9ab4345
    .venv/bin/python benchmarks/stamper_lines.py --against 9ab4345 --lines 200000 --rounds 5
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.hosts.stamper import STAMPER  # noqa: E402


def stamper_of(commit: str) -> str:
    """STAMPER as zerodown/hosts/stamper.py has it at `commit`."""
    source = subprocess.run(["git", "show", f"{commit}:zerodown/hosts/stamper.py"],
                            check=True, capture_output=True, text=True).stdout
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "STAMPER":
            return ast.literal_eval(node.value)
    raise SystemExit(f"no STAMPER in zerodown/hosts/stamper.py at {commit}")


def lines_per_second(code: str, folder: str, lines: int, size: int) -> float:
    line = b"x" * (size - 1) + b"\n"
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".log") as log:
        read, write = os.pipe()
        proc = subprocess.Popen([sys.executable, "-S", "-c", code], stdin=read,
                                stdout=log, stderr=subprocess.DEVNULL, env={})
        os.close(read)
        started = time.perf_counter()
        batch = line * 64
        for _ in range(lines // 64):
            os.write(write, batch)
        os.close(write)
        proc.wait()
        return lines / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", required=True, help="the commit whose stamper to compare")
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=100, help="bytes a line")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    codes = {"this checkout": STAMPER, args.against: stamper_of(args.against)}
    rates: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(args.rounds):
        for name, code in codes.items():
            rates[name].append(lines_per_second(code, args.dir, args.lines, args.size))
    for name, got in rates.items():
        print(f"{name:>14}: {statistics.median(got):>9,.0f} lines/s "
              f"({args.lines} lines of {args.size} B, median of {args.rounds})")


if __name__ == "__main__":
    main()
