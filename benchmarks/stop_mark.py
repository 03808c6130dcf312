"""What a stop's mark costs (zerodown/hosts/stop_once.py): before its SIGTERM, a stop now
writes the time of it into the instance's record (one unsynced append of the whole
table to instances.json, under its lock). Measured: InstanceTable.stop of a process that
exits at once on SIGTERM, from the call to its answer, in a registry of N records (the
others' processes gone: nothing else changes), medians of interleaved samples; and the
call to the SIGTERM's arrival (the mark's share on the stop's path). `--code DIR`: the
zerodown to measure (another checkout, the code before).

    .venv/bin/python benchmarks/stop_mark.py --sizes 1,1000 --samples 41
    .venv/bin/python benchmarks/stop_mark.py --code /path/to/main --sizes 1,1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

APP = ("import signal, sys, time\n"
       "def on_term(*a):\n"
       "    open(sys.argv[1], 'w').write(repr(time.monotonic()))\n"
       "    sys.exit(0)\n"
       "signal.signal(signal.SIGTERM, on_term)\n"
       "open(sys.argv[1] + '.ready', 'w').close()\n"
       "while True: time.sleep(1)\n")


def sample(table, tmp: Path, n: int) -> tuple[float, float]:
    """(call to answer, call to SIGTERM received) in ms, one stop."""
    seen = tmp / f"term-{n}"
    for p in (seen, Path(f"{seen}.ready")):
        p.unlink(missing_ok=True)
    got = table.start("shop-r1-s0", {"service": "shop", "slot": 0}, "127.0.0.1",
                      [sys.executable, "-c", APP, str(seen)], str(tmp), dict(os.environ),
                      "bench")
    while not Path(f"{seen}.ready").exists():
        time.sleep(0.002)
    called = time.monotonic()
    table.stop("shop-r1-s0", got["started"]["pid"], 10, "bench")
    answered = time.monotonic()
    return (answered - called) * 1000, (float(seen.read_text()) - called) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,1000")
    ap.add_argument("--samples", type=int, default=41)
    ap.add_argument("--code", default=str(Path(__file__).resolve().parent.parent))
    args = ap.parse_args()
    sys.path.insert(0, args.code)
    from zerodown.hosts.instances import InstanceTable
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="zd-stopmark-") as tmp:
        tables = {}
        for n in sizes:
            d = Path(tmp) / str(n)
            table = InstanceTable(d)
            with table.registry.locked() as entries:  # dead neighbours: saved, never touched
                for i in range(n - 1):
                    entries[f"other-{i}"] = {"service": "other", "pid": 1, "start_time": 1,
                                             "port": 20000 + i, "address": "127.0.0.1:1"}
                table.registry.save(entries, sync=False)
            tables[n] = (table, d)
        got: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
        for _ in range(args.samples):
            for n in sizes:
                got[n].append(sample(*tables[n], n))
    print(f"code {args.code}")
    for n in sizes:
        whole = statistics.median(a for a, _ in got[n])
        term = statistics.median(b for _, b in got[n])
        print(f"{n:>6} records: stop {whole:7.2f} ms, SIGTERM after {term:6.2f} ms "
              f"(medians of {args.samples})")


if __name__ == "__main__":
    main()
