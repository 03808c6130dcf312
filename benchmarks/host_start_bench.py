"""A host's share of an instance's start and stop, timed on two copies of zerodown's code
in turn (before and after a change), on this machine's disk:

    .venv/bin/python benchmarks/host_start_bench.py --code /tmp/before --code . \\
        [--rounds 4] [--per 10] [--dir DIR]

What the agent does for one `start` call (InstanceTable.start) beside 4 running instances
of the same state directory, split at the spawn: "to spawn" is from the call to the
moment the process is spawned (the lock, the registry read, the claim's checks, the
intent's synced write: all of it on the path before the app can begin), "after" is from
there to the call's return (the spawn, the pid's write). Then the ownership check of the
instance's port (owns_port, once it listens) and a stop of an instance that exits at
once on SIGTERM (the exit wait, the record's removal). Each code copy runs `per` starts
in a process of its own, the copies alternating `rounds` times; medians and p90 in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

APP = ("import os, signal, socket, sys, time\n"
       "signal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n"
       "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
       "time.sleep(3600)\n")
RECORD = {"service": "bench", "revision": 1, "version": "v1", "host": "local"}


def child(state_dir: str, per: int) -> dict:
    """Run in a process whose sys.path starts with the code copy being timed."""
    from zerodown.hosts import instances
    from zerodown.hosts.instances import PORT, InstanceTable
    marks = {}
    spawn = instances.spawn

    def timed_spawn(*args, **kw):
        marks["spawn"] = time.perf_counter()
        return spawn(*args, **kw)
    instances.spawn = timed_spawn
    table = InstanceTable(state_dir)
    argv = [sys.executable, "-c", APP, PORT]
    others = [table.start(f"bench-r1-s{i}", {**RECORD, "slot": i}, "127.0.0.1", argv,
                          state_dir, {}, "bench")["started"] for i in range(4)]
    out: dict[str, list[float]] = {"to spawn": [], "after": [], "owns_port": [], "stop": []}
    try:
        for i in range(per):
            name = f"bench-r2-s{i}"
            begin = time.perf_counter()
            entry = table.start(name, {**RECORD, "slot": 10 + i}, "127.0.0.1", argv,
                                state_dir, {}, "bench")["started"]
            end = time.perf_counter()
            out["to spawn"].append((marks["spawn"] - begin) * 1000)
            out["after"].append((end - marks["spawn"]) * 1000)
            wait_listening(entry["port"])
            begin = time.perf_counter()
            assert table.owns_port(entry["pid"], entry["port"])
            out["owns_port"].append((time.perf_counter() - begin) * 1000)
            begin = time.perf_counter()
            table.stop(name, entry["pid"], 5, name)
            out["stop"].append((time.perf_counter() - begin) * 1000)
    finally:
        for entry in others:
            table.stop(f"bench-r1-s{entry['slot']}", entry["pid"], 5, "bench")
    return out


def wait_listening(port: int) -> None:
    import socket
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"port {port} did not listen within 10s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", action="append", required=True,
                        help="a zerodown source tree to time (give two: before, after)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per", type=int, default=10, help="starts per round")
    parser.add_argument("--dir", default=None, help="where the state folders go (a disk)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0
    results: dict[str, dict[str, list[float]]] = {c: {} for c in args.code}
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    for _ in range(args.rounds):
        for code in args.code:
            state = tempfile.mkdtemp(prefix="host-start-", dir=args.dir)
            try:
                env = {**os.environ, "PYTHONPATH": os.path.abspath(code)}
                got = subprocess.run([sys.executable, __file__, "--code", code, "--child",
                                      state, str(args.per)], env=env, check=True,
                                     capture_output=True, text=True, cwd=state)
                for piece, times in json.loads(got.stdout).items():
                    results[code].setdefault(piece, []).extend(times)
            finally:
                shutil.rmtree(state, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("| piece, ms (median / p90) | " + " | ".join(args.code) + " |")
    print("|---|" + "---|" * len(args.code))
    for piece in results[args.code[0]]:
        cells = []
        for code in args.code:
            times = sorted(results[code][piece])
            p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
            cells.append(f"{statistics.median(times):.2f} / {p90:.2f}")
        print(f"| {piece} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
