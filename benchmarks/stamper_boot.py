"""What an instance's log stamper costs the boot it starts beside (issue 14's rolling figure).

    .venv/bin/python benchmarks/stamper_boot.py [--rounds 18]

Three example apps started at once on this machine (a batch of the test fleet's three
hosts shares its 2 cores), from a process that has the host agent's modules loaded, as
a host's agent has; milliseconds from the first spawn to the last app accepting a
connection (looked at every 1 ms). Three ways, alternated round by round:

- none: the app's output to /dev/null (the critical path's measurement spawns it so:
  benchmarks/fleet_path.py);
- at the spawn: its output into a pipe and the stamper forked at once from this process
  (what a host's agent does: hosts/local.spawn, hosts/stamper.start; session 23's kept
  forker, measured here then, was removed in session 24: benchmarks/README.md);
- once listening: the same pipe, the stamper forked only when the app accepts (its
  lines wait in the pipe meanwhile) — an experiment, not what the agent does: boot lines
  would be stamped when read, and an app that writes 64 KB before it listens would wait.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zerodown.hosts import agent, stamper  # noqa: E402,F401  (the agent's modules, as on a host)

APP = str(ROOT / "examples" / "app" / "app.py")
MODES = ("none", "at the spawn", "once listening")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(port: int, mode: str, folder: Path):
    """The app, and (deferred stamper only) what its stamper is to read and write."""
    argv = [sys.executable, APP, "--port", str(port), "--version", "v1"]
    if mode == "none":
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                start_new_session=True), None
    read, write = os.pipe()
    proc = subprocess.Popen(argv, stdout=write, stderr=subprocess.STDOUT,
                            start_new_session=True)
    os.close(write)
    log = open(folder / f"{port}.log", "ab", buffering=0)
    if mode == "at the spawn":
        stamper.start(read, log)
        os.close(read)
        return proc, None
    return proc, (read, log)


def batch(mode: str, folder: Path) -> float:
    ports = [free_port() for _ in range(3)]
    began = time.perf_counter()
    launched = [launch(port, mode, folder) for port in ports]
    waiting = set(ports)
    while waiting:
        for port, (_, later) in zip(ports, launched):
            if port not in waiting:
                continue
            with socket.socket() as s:
                try:
                    s.connect(("127.0.0.1", port))
                except OSError:
                    continue
            waiting.discard(port)
            if later is not None:
                stamper.start(*later)
                os.close(later[0])
        time.sleep(0.001)
    took = (time.perf_counter() - began) * 1000
    for proc, _ in launched:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc, _ in launched:
        proc.wait()
    stamper.reap()
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=18)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stamper-boot-"))
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for i in range(args.rounds):
        k = i % len(MODES)
        for mode in MODES[k:] + MODES[:k]:
            times[mode].append(batch(mode, folder))
            time.sleep(0.2)  # the last batch's exits done with, not beside the next
    for mode in MODES:
        v = sorted(times[mode])
        print(f"{mode:15} median {statistics.median(v):6.1f} ms, quartiles "
              f"{v[len(v) // 4]:.1f}-{v[3 * len(v) // 4]:.1f} (n={len(v)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
