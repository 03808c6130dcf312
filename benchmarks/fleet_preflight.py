"""Connection set-up and pre-flight of a fleet of N SSH hosts (issue 14: 20 hosts in <= 3 s).

    .venv/bin/python benchmarks/fleet_preflight.py            # 20 hosts, 3 rounds (root)
    .venv/bin/python benchmarks/fleet_preflight.py --hosts 5 --rounds 1

Builds the test fleet (tests/support/fleet.py: network namespaces, each with its own
sshd), then per round opens a fresh connection to every host at once and runs the
pre-flight check (zerodown/hosts/preflight.py) on each, and prints the wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fleet import Fleet, available  # noqa: E402
from zerodown.hosts.connections import Connections  # noqa: E402
from zerodown.hosts.preflight import preflight  # noqa: E402
from zerodown.runtimes.ssh_options import parse_options  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    started = time.monotonic()
    with Fleet(args.hosts) as fleet:
        print(f"fleet of {args.hosts} hosts up in {time.monotonic() - started:.2f} s")
        options = parse_options({"hosts": [h.name for h in fleet.hosts],
                                 "ssh_config": str(fleet.ssh_config),
                                 "known_hosts": str(fleet.known_hosts)})
        times = []
        for round_ in range(args.rounds):
            conns = Connections(options)
            t0 = time.monotonic()
            reports = preflight(conns, "/srv/zerodown")
            times.append(time.monotonic() - t0)
            conns.close()
            ready = sum(r.ready for r in reports)
            print(f"round {round_ + 1}: connect + pre-flight of {args.hosts} hosts "
                  f"{times[-1]:.2f} s ({ready}/{args.hosts} ready)")
        print(f"median {statistics.median(times):.2f} s (target <= 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
