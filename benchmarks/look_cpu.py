"""The CPU a starting instance's look costs on its host while it waits (issue 14):
InstanceTable.await_listening on an instance that does not listen, timed by getrusage.

    .venv/bin/python benchmarks/look_cpu.py                       # polls of 5, 2 and 1 ms
    .venv/bin/python benchmarks/look_cpu.py --code /path/to/other/tree --wait 2

The wait runs beside the booting app on the same cores: what it takes, the app waits for.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent),
                        help="the zerodown tree to time (default: this one)")
    parser.add_argument("--wait", type=float, default=2.0, help="seconds of waiting per poll")
    parser.add_argument("--polls", default="0.005,0.002,0.001", help="poll intervals, s")
    args = parser.parse_args()
    sys.path.insert(0, args.code)
    from zerodown.hosts.instances import PORT, InstanceTable
    from zerodown.hosts.local import terminate
    with tempfile.TemporaryDirectory() as d:
        table = InstanceTable(d)
        entry = table.start("s-r1-s0", {"service": "s"}, "127.0.0.1",
                            [sys.executable, "-c", "import time; time.sleep(600)", PORT], d, {},
                            "look_cpu")["started"]
        try:
            for poll in (float(p) for p in args.polls.split(",")):
                r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
                got = table.await_listening("s-r1-s0", entry["pid"], args.wait, poll, 1)
                r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
                assert got["alive"] and got["listening"] is False, got
                cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
                print(f"poll {poll * 1000:g} ms: {100 * cpu / (w1 - w0):.1f}% of a core "
                      f"while waiting ({args.code})")
        finally:
            terminate(entry["pid"], entry["start_time"], 1, "look_cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
