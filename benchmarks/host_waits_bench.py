"""The three small costs of a rolling deployment's path that issue 14's rollrest work cut,
each timed the old way and the new way, interleaved, on this machine's disk:

    .venv/bin/python benchmarks/host_waits_bench.py [--rounds 30] [--dir DIR]

- adopt: a host's adopt that finds nothing to change — the old one rewrote the registry
  (write_atomic: two syncs), the new one reads it only;
- exit: from a process's exit to wait_gone's return — the old loop looked every POLL
  (20 ms), the new one waits on a pidfd;
- table: the embedded proxy's save of an applied table — write_atomic (file and folder
  synced) vs an append with one fdatasync to its journal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.atomic_write import write_atomic  # noqa: E402
from zerodown.hosts import local  # noqa: E402
from zerodown.hosts.instances import InstanceTable  # noqa: E402
from zerodown.model import Backend, RevisionRoute, RoutingTable  # noqa: E402
from zerodown.proxy.state import TableFile, line_of  # noqa: E402

SLEEPER = [sys.executable, "-c", "import time; time.sleep(3600)"]


def old_wait_gone(pid: int, started: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while local.running(pid, started):
        if time.monotonic() >= deadline:
            return False
        time.sleep(local.POLL)
    return True


def exit_latency(wait) -> float:
    """ms from when the process was told to end (it ends itself then: its own lateness
    in waking up is in both figures) to wait's return."""
    end_at = time.time() + 0.15
    proc = subprocess.Popen([sys.executable, "-c", "import os, sys, time; "
                             "time.sleep(max(0, float(sys.argv[1]) - time.time())); "
                             "os._exit(0)", repr(end_at)])
    started = local.start_time(proc.pid)
    wait(proc.pid, started, 5)
    late = time.time() - end_at
    proc.wait()
    return late * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    args = parser.parse_args()
    got: dict[str, list[float]] = {k: [] for k in (
        "adopt, old (rewrite)", "adopt, new", "exit, old (poll 20 ms)", "exit, new (pidfd)",
        "table, old (write_atomic)", "table, new (append + fdatasync)")}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        table = InstanceTable(tmp)
        table.claim("shop-r1-s0", {"service": "shop", "version": "v1"}, "127.0.0.1")
        entry = table.launch("shop-r1-s0", SLEEPER, tmp, {}, "bench")
        path = os.path.join(tmp, "proxy.json")
        journal = TableFile(path)
        journal.save(RoutingTable(1))
        try:
            for i in range(args.rounds):
                t = time.perf_counter()
                table.adopt("shop")
                got["adopt, new"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                with table.registry.locked() as entries:  # what adopt did before
                    table.registry.save(entries)
                got["adopt, old (rewrite)"].append((time.perf_counter() - t) * 1000)
                got["exit, old (poll 20 ms)"].append(exit_latency(old_wait_gone))
                got["exit, new (pidfd)"].append(exit_latency(local.wait_gone))
                routed = RoutingTable(i + 2, (RevisionRoute("r", 100.0, (
                    Backend(f"b{n}", f"10.0.0.{n}:8000") for n in range(6))),))
                t = time.perf_counter()
                write_atomic(path + ".old", line_of(routed))
                got["table, old (write_atomic)"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                journal.save(routed)
                got["table, new (append + fdatasync)"].append((time.perf_counter() - t) * 1000)
        finally:
            journal.close()
            local.terminate(entry["pid"], entry["start_time"], 1, "sleeper")
    print(f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    for name, ms in got.items():
        ms.sort()
        print(f"{name:34} median {statistics.median(ms):6.2f} ms   "
              f"p90 {ms[int(len(ms) * 0.9)]:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
