"""Waiting until new instances are healthy: the loop behind a WaitHealthy step.

An instance counts as healthy once `healthy_threshold` probes in a row
succeed. It fails when `start_timeout` passes first, or when its process
exits; the error names the instance, the limit, and the last probe result
and where it was sent (a HostFailure instead when the last look got no answer
from the instance's host: the deployment's on_host_failure applies), e.g.

    instance shop-r7-s2 did not become healthy within 30s (last: HTTP 503 from 127.0.0.1:41231/healthz)

Time comes from the injected Clock, so a test crosses a 30 s start in microseconds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from zerodown.errors import HostFailure, RuntimeFailure, ZerodownError
from zerodown.model import Instance, InstanceRef, Revision
from zerodown.protocols import Clock, Runtime


class HealthError(RuntimeFailure):
    """An instance did not become healthy; `ref` says which, for the failure policy."""

    def __init__(self, message: str, ref: InstanceRef):
        super().__init__(message)
        self.ref = ref


def probed(instance: Instance, revision: Revision) -> str:
    """Where the health check goes: "127.0.0.1:41231/healthz" (or just the address for tcp)."""
    health = revision.health
    return instance.address if getattr(health, "tcp", False) else f"{instance.address}{health.path}"


def wait_healthy(runtime: Runtime, clock: Clock, targets: Sequence[tuple[Instance, Revision]],
                 check: Callable[[], object] = lambda: None, parallel: int = 1) -> None:
    """Return once every target is healthy; raise HealthError for the first that is not.

    A round of probes starts every `health.interval` (its own duration included, so a
    round of slow probes does not stretch the interval). `parallel` > 1: a round probes
    that many targets at once (a runtime whose looks are round trips to other hosts).
    `check` runs between rounds of probes and may raise to stop waiting (the
    deployment was aborted from another process).
    """
    start = clock.now()
    streak = {inst.id: 0 for inst, _ in targets}
    last: dict[str, str | ZerodownError] = {inst.id: "no answer yet" for inst, _ in targets}
    pending = list(targets)
    pool = ThreadPoolExecutor(max_workers=min(parallel, len(targets))) if parallel > 1 else None
    try:
        while pending:
            began = clock.now()
            looks = (pool.map(lambda t: look(runtime, *t), pending) if pool is not None
                     else (look(runtime, inst, rev) for inst, rev in pending))
            for (inst, rev), (alive, ok, seen) in zip(pending, list(looks)):
                if not alive:  # `seen`: how it ended, and its last log lines if read
                    log = runtime.logs(inst)  # named once: `seen` names it with its lines
                    named = "" if seen and log in str(seen) else f"; log: {log}"
                    raise HealthError(f"instance {inst.id} exited before it became healthy "
                                      f"(last: {_where(str(last[inst.id]), inst, rev)}{named})"
                                      + (f": {seen}" if seen else ""), inst.ref)
                last[inst.id] = seen
                streak[inst.id] = streak[inst.id] + 1 if ok else 0
            pending = [(i, r) for i, r in pending if streak[i.id] < r.health.healthy_threshold]
            if not pending:
                return
            elapsed = clock.now() - start
            late = [(i, r) for i, r in pending if elapsed >= r.health.start_timeout]
            if late:
                inst, rev = late[0]
                silent = last[inst.id]
                if isinstance(silent, HostFailure):  # the host's silence, not the instance's:
                    raise HostFailure(              # on_host_failure, not on_failure
                        f"instance {inst.id} did not become healthy within "
                        f"{rev.health.start_timeout:g}s: its host did not answer ({silent})",
                        silent.host)
                raise HealthError(f"instance {inst.id} did not become healthy within "
                                  f"{rev.health.start_timeout:g}s (last: "
                                  f"{_where(str(silent), inst, rev)})", inst.ref)
            check()
            spent = clock.now() - began
            clock.sleep(max(0.0, min(min(r.health.interval - spent,
                                         r.health.start_timeout - elapsed) for _, r in pending)))
    finally:
        if pool is not None:
            pool.shutdown(wait=False)


def look(runtime: Runtime, inst: Instance, rev: Revision, *, waiting: bool = True
         ) -> tuple[bool, bool, str | ZerodownError]:
    """(alive, healthy, what was seen): one probe, and whether the process still runs.

    A runtime that asks both in one round trip to a host does so: `look` for a
    WaitHealthy step (`waiting`: it may wait on the host for a starting instance to
    listen), `glance` for `zerodown status` (bounded like the probe: `alive` alone waits
    up to runtime.command_timeout for a host cut off, and status wants a look, not a
    wait). A host that did not answer may be what was seen (its HostFailure)."""
    both = getattr(runtime, "look" if waiting else "glance", None)
    if both is not None:
        return both(inst, rev)
    if not runtime.alive(inst):
        # how a gone one ended, for a wait's error; status shows only that it is gone (and
        # the local runtime's answer may wait for the log stamper's last lines)
        return False, False, runtime.healthy(inst, rev)[1] if waiting else ""
    ok, seen = runtime.healthy(inst, rev)
    return True, ok, seen


def _where(seen: str, inst, rev) -> str:
    """The last probe result, naming where it went unless the runtime already did."""
    where = probed(inst, rev)
    return seen if " from " in seen or where in seen else f"{seen} from {where}"
