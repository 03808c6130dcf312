"""`zerodown demo --fleet`: the demo on a fleet of 3 hosts this machine builds (root only).

Builds a practice fleet (zerodown/practice_fleet.py: 3 network namespaces on a bridge,
each with its own sshd and a private 10.231.77.0/24 that exists only there), runs the
example app on it (runtime: ssh, app.release uploaded, 2 instances a host) behind the
embedded proxy on this machine, keeps a load generator running and ships a new version
with rolling (one instance at a time, then host by host), blue/green and canary; prints
the plain demo's table plus the hosts each new version ran on, then tears the fleet down
(every namespace, link and process it made), on Ctrl-C and on failure too.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from zerodown import demo
from zerodown.controller import Controller
from zerodown.example import APP
from zerodown.fleet_lock import FleetLock
from zerodown.practice_fleet import PracticeFleet, available

HOSTS, PER_HOST = 3, 2
_PLAIN = dict(demo.STRATEGIES)
STRATEGIES = [  # (label, strategy section); each deploys the next version
    ("rolling, surge 1", _PLAIN["rolling, surge 1"]),
    ("rolling, host by host", "{kind: rolling, batch_by: host, max_surge: 2}"),
    ("blue/green", _PLAIN["blue/green"]),
    ("canary 10% → 50%", _PLAIN["canary 10% → 50%"]),
]


def refusal() -> str | None:
    """Why `demo --fleet` cannot run here, as the user reads it (None: it can)."""
    why = available()
    if why is None:
        return None
    return (f"zerodown demo --fleet: {why}. It builds 3 hosts out of network namespaces, "
            f"each running sshd: run it as root (sudo bash scripts/demo.sh --fleet), with "
            f"Debian's openssh-server, nftables, iproute2 and util-linux installed "
            f"(scripts/setup.sh installs them). The plain `zerodown demo` needs none of this.")


def write_config(fleet: PracticeFleet, folder: Path) -> Path:
    """The service's zerodown.yaml and a release folder (the example app) per version."""
    for n in range(1, len(STRATEGIES) + 2):
        release = folder / "releases" / f"v{n}"
        release.mkdir(parents=True)
        shutil.copy(APP, release / "app.py")
    path = folder / "zerodown.yaml"
    path.write_text(fleet.release_config(demo.free_port(), STRATEGIES[0][1], per_host=PER_HOST))
    return path


def hosts_of(fleet: PracticeFleet, version: str) -> str:
    """`zdf1 2, zdf2 2, zdf3 2`: the processes of `version` each host runs, as it sees them."""
    return ", ".join(f"{h.name} {h.app_versions().count(version)}" for h in fleet.hosts)


def run(folder: Path, lock: FleetLock | None = None) -> int:
    """The demo on a practice fleet built for it and torn down after, the service's files
    in `folder`; `lock`: the fleet lock if the caller holds it already."""
    print(f"building a practice fleet of {HOSTS} hosts (network namespaces, each with "
          f"its own sshd) ...", flush=True)
    with PracticeFleet(HOSTS, lock=lock) as fleet:
        print("  " + ", ".join(f"{h.name} at {h.address}" for h in fleet.hosts), flush=True)
        try:
            ctl = Controller(str(write_config(fleet, folder)))
            return demo.ship_all(ctl, STRATEGIES, HOSTS * PER_HOST,
                                 where=lambda version: hosts_of(fleet, version))
        finally:
            print("tearing the practice fleet down ...", flush=True)


def main(folder: Path) -> int:
    why = refusal()
    if why is not None:
        print(why, file=sys.stderr)
        return 1
    try:
        return run(folder)
    except KeyboardInterrupt:
        print("zerodown demo --fleet: interrupted; the practice fleet is torn down",
              file=sys.stderr)
        return 130
