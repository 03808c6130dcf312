"""The logs of ended instances bounded (stdlib only: a log stamper on every host runs it).

    prune(log_dir)   # <state_dir>/logs: of each service's ended instances, the newest kept
    prune(log_dir, ended="shop-r3-s0")   # from its stamper: that instance has ended

Each deployment adds a log per instance (shop-r1-s0.log, shop-r2-s0.log, ...) and nothing
else removes one: a host deployed to 1,000 times kept thousands of files and their bytes.
The log of an instance the registry (<state_dir>/instances.json) still records is never
removed — a quiet instance's log may be the oldest of all — and of the others the
KEEP_ENDED newest (by last write) of each service are kept, so `zerodown logs` still shows
the instances that stopped recently.

Who calls it: the log stamper (zerodown/hosts/stamper.py), at its end, after its
instance and every child of it exited. That is off every deployment's wait: a start, an
adopt or the pre-flight, a stop's answer (the controller awaits it) do not run it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from zerodown.hosts.registry import Registry

# Ended instances' logs kept per service: ten deployments of five instances each, far more
# than a rollback or a look at why an instance stopped needs, a bound on the files and
# bytes however often the service is deployed.
KEEP_ENDED = 50
# Names removed under one hold of the registry's lock: a start waits for it (below).
BATCH = 64
_INSTANCE = re.compile(r"^(?P<service>.+)-r(?P<revision>\d+)-s(?P<slot>\d+)$")


def prune(log_dir: str | os.PathLike, ended: str | None = None,
          keep: int = KEEP_ENDED) -> list[str]:
    """Remove the logs in `log_dir` beyond the newest `keep` of each service's ended
    instances; the names removed. `ended`: an instance known to have ended though maybe
    still recorded (its stamper's end comes before its stop removes the record), counted
    with the ended so the bound is exact; as every recorded one, never removed itself."""
    log_dir = Path(log_dir)
    registry = Registry(log_dir.parent / "instances.json")
    # listed before the registry is read: a log that exists now belongs to an instance
    # recorded (claimed) before its log was made, so the read below sees it if it is live
    logs = _logs(log_dir)
    recorded = registry.load()
    by_service: dict[str, list[tuple]] = {}
    for name, mtime in logs.items():
        if name not in recorded or name == ended:
            match = _INSTANCE.match(name)
            # a file's time has a clock tick's grain (~4 ms): logs ended in the same tick
            # are ordered by revision and slot, not by name (r10 before r9)
            order = (int(match["revision"]), int(match["slot"])) if match else (0, 0)
            by_service.setdefault(match["service"] if match else "", []).append(
                (mtime, order, name))
    doomed = [name for service_logs in by_service.values()
              for _, _, name in sorted(service_logs, reverse=True)[keep:]]
    removed = []
    for at in range(0, len(doomed), BATCH):
        # under the lock, checked again: a start of the same name since the read above
        # (a slot started again) opens this very file, which must not be unlinked
        with registry.locked() as entries:
            for name in doomed[at:at + BATCH]:
                if name not in entries:
                    try:
                        os.unlink(log_dir / f"{name}.log")
                        removed.append(name)
                    except FileNotFoundError:
                        pass  # another stamper ending at once removed it
    return removed


def _logs(log_dir: Path) -> dict[str, float]:
    """instance name -> its log's last write, for every log in `log_dir`."""
    found = {}
    with os.scandir(log_dir) as entries:
        for entry in entries:
            if entry.name.endswith(".log") and entry.is_file(follow_symlinks=False):
                try:
                    found[entry.name[:-len(".log")]] = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
    return found
