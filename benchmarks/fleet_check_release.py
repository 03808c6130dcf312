"""A deployment's release check on a fleet of SSH hosts whose agents answer already
(issue 14's prelude): every host's pre-flight, then the release prepared and put in place
on every host — as `check_release` does it, and the way it did before (the pre-flight's
round trip, then the preparation's: ssh_release.upload after preflight).

    .venv/bin/python benchmarks/fleet_check_release.py                # 3 hosts, 20 rounds (root)
    .venv/bin/python benchmarks/fleet_check_release.py --hosts 20 --rounds 10

Each round checks a new version (a release folder of the example app, the same files:
copied on each host from the release before, none sent) the two ways in turn, and prints
the medians and 90th percentiles of each.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import APP  # noqa: E402
from tests.support.fleet import Fleet, available  # noqa: E402
from zerodown.hosts.preflight import preflight, refuse_unless_ready  # noqa: E402
from zerodown.runtimes import ssh_release  # noqa: E402


def separately(runtime, version: str, app, keep: frozenset[str] = frozenset(),
               unlisted=()) -> None:
    """The pre-flight's round trip on every host, then the preparation's (as before;
    `unlisted`, as check_and_upload takes it, is empty here)."""
    refuse_unless_ready(preflight(runtime.connections, runtime.options.state_dir,
                                  runtime.hosts))
    ssh_release.upload(runtime, version, app, keep)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    with Fleet(args.hosts) as fleet, tempfile.TemporaryDirectory(prefix="zd-check-") as tmp:
        runtime = fleet.release_runtime(Path(tmp))
        took: dict[str, list[float]] = {"one round trip": [], "separately": []}
        ways = {"one round trip": ssh_release.check_and_upload, "separately": separately}
        try:
            for n in range(args.rounds * 2 + 1):
                version = f"v{n}"
                (Path(tmp) / "releases" / version).mkdir(parents=True)
                shutil.copy(APP, Path(tmp) / "releases" / version / "app.py")
                way = "separately" if n % 2 else "one round trip"
                ssh_release.check_and_upload = ways[way]  # what runtime.check_release calls
                started = time.perf_counter()
                runtime.check_release(runtime.config.app, version)
                if n:  # the first installs the agents
                    took[way].append((time.perf_counter() - started) * 1000)
        finally:
            runtime.close()
    load = Path("/proc/loadavg").read_text().split()[0]
    for way, ms in took.items():
        ms.sort()
        print(f"{way:15} {len(ms)} checks of {args.hosts} hosts: median "
              f"{statistics.median(ms):.2f} ms, p90 {ms[int(len(ms) * 0.9)]:.2f} ms "
              f"(load average {load})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
