"""The logs of ended instances bounded (stdlib only: a log stamper on every host runs it).

    prune(log_dir)   # <state_dir>/logs: of each service's ended instances, the newest kept
    prune(log_dir, keep=3)   # logs.keep_ended of zerodown.yaml, from the instance's record
    keep, max_size = bounds_of(entry)   # `logs:`, from an instance's record, for its stamper

Each deployment adds a log per instance (shop-r1-s0.log, shop-r2-s0.log, ...) and nothing
else removes one: a host deployed to 1,000 times kept thousands of files and their bytes.
The log of a live instance — recorded, and its process running, or a start under way —
is never removed: a quiet instance's log may be the oldest of all. Every other log is an
ended instance's, whether it was stopped or died on its own (crashed, killed), recorded
still or not: of each service the `keep` newest (by last write) are kept, so `zerodown
logs` still shows why an instance died, and the instances that stopped recently, until
`keep` others have ended after it. A log's rotated part (<instance>.log.1, logs.max_size:
hosts/stamper.py) goes with it.

Who calls it: the log stamper (zerodown/hosts/stamper.py), at its end, after its
instance and every child of it exited. That is off every deployment's wait: a start, an
adopt or the pre-flight, a stop's answer (the controller awaits it) do not run it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from zerodown.hosts.process_identity import still_runs
from zerodown.hosts.registry import Registry

# Ended instances' logs kept per service unless logs.keep_ended says otherwise: ten
# deployments of five instances each, far more than a rollback or a look at why an
# instance stopped needs, a bound on the files and bytes however often it is deployed.
KEEP_ENDED = 50
ROTATED = ".1"  # <instance>.log.1: the older part of a log past logs.max_size


Bounds = tuple[int, "int | None"]  # (logs.keep_ended, logs.max_size or None: unbounded)


def bounds_of(entry: dict) -> Bounds:
    """zerodown.yaml's `logs:` as an instance's record carries it to the host
    (config_model.LogsConfig.record), for its stamper; a record without it (written by
    an earlier zerodown), the defaults. Plain values, no dataclass: this module is
    imported by a stamper's prune in a new interpreter, where each import costs CPU."""
    given = entry.get("logs") or {}
    return int(given.get("keep_ended", KEEP_ENDED)), given.get("max_size")


# Names removed under one hold of the registry's lock: a start waits for it (below).
BATCH = 64
_INSTANCE = re.compile(r"^(?P<service>.+)-r(?P<revision>\d+)-s(?P<slot>\d+)$")


def prune(log_dir: str | os.PathLike, keep: int = KEEP_ENDED) -> list[str]:
    """Remove the logs in `log_dir` beyond the newest `keep` of each service's ended
    instances; the names removed."""
    log_dir = Path(log_dir)
    registry = Registry(log_dir.parent / "instances.json")
    # listed before the registry is read: a log that exists now belongs to an instance
    # recorded (claimed) before its log was made, so the read below sees it if it is live
    logs = _logs(log_dir)
    recorded = registry.load()
    by_service: dict[str, list[tuple]] = {}
    for name, mtime in logs.items():
        if not live(recorded.get(name)):
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
                if not live(entries.get(name)):
                    gone = [_unlink(log_dir / f"{name}.log{end}") for end in ("", ROTATED)]
                    if any(gone):
                        removed.append(name)
    return removed


def live(entry: dict | None) -> bool:
    """Does the record name an instance that may write its log still: one whose start is
    under way (no pid yet), or whose process runs? A dead one's record stays until an
    adopt or a stop drops it; its log is an ended one's from its death."""
    return entry is not None and (not entry.get("pid") or still_runs(entry))


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False  # another stamper ending at once removed it, or it was never rotated


def _logs(log_dir: Path) -> dict[str, float]:
    """instance name -> its log's last write, for every log in `log_dir` (a rotated part
    alone, its log gone, counts as the log)."""
    found: dict[str, float] = {}
    with os.scandir(log_dir) as entries:
        for entry in entries:
            name, _, rest = entry.name.partition(".log")
            if name and rest in ("", ROTATED) and entry.is_file(follow_symlinks=False):
                try:
                    mtime = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                found[name] = max(mtime, found.get(name, mtime))
    return found
