"""Looks at a fleet's instances: a WaitHealthy's (waiting on the host for a starting
instance to listen) and status's (SshRuntime.look, glance, healthy).

A look is one round trip to the instance's host (alive, and listening) and one probe from
where the load balancer runs (runtime._probe). Until an instance first listens, the round
trip waits on its host for that (await_listening: a look every HOST_POLL, up to AWAIT),
so it is probed within milliseconds of listening, not up to a health.interval later; at
most AWAITS such waits at once per host. Once it was seen to own its port, that is not
asked again (`_listening`).
"""

from __future__ import annotations

import threading
from typing import cast

from zerodown.config import HealthConfig
from zerodown.errors import HostFailure, RuntimeFailure
from zerodown.hosts import exits
from zerodown.hosts.ssh import SshHost
from zerodown.model import Instance, Revision
from zerodown.runtimes.ended import ended_text

AWAIT = 0.25      # s a look of a starting instance may wait on its host for it to listen
HOST_POLL = 0.002  # s between two looks there (or health.interval, if shorter): a look is
                   # a refused connect, ~50 us of CPU (3% of a core at this rate, beside the
                   # booting app); the exit is seen at once on a pidfd, not by looking
TAIL_LINES = 15   # of a gone instance's log, in the look's answer
KEPT = 10_000     # (name, pid)s Looks remembers as listening, at most
AWAITS = 4        # such waits at once per host: of its 8 sessions (Connections), the other
                  # calls (starts, stops) keep theirs; further looks are plain ones


class Looks:
    """The looks of one SshRuntime (its hosts, config and probe), with what they learnt."""

    def __init__(self, runtime):  # an SshRuntime (not imported: it imports this)
        self.runtime = runtime
        # (name, pid)s seen owning their port: a cache (a key missing costs one round trip
        # more), forgotten at the instance's stop and cleared whole past KEPT, so a daemon's
        # runtime does not grow with every instance it ever started (one crashed away is
        # never stopped)
        self._listening: set[tuple[str, int | None]] = set()
        self._awaits: dict[str, int] = {}  # await_listening calls in flight per host
        self._awaits_lock = threading.Lock()

    def look(self, instance: Instance, revision: Revision, starting: bool,
             brief: bool = False) -> tuple[bool, bool, str | HostFailure]:
        """Of an instance gone, how it ended and its log's last lines (`brief`, status's:
        how it ended only, in a few words). A host that does not answer (bounded like the
        probe, so a host cut off does not hold up the health checks): not healthy, and not
        "gone" either — unknown is never taken as exited."""
        host_name = self.runtime.host_running(instance)
        host = self.runtime.hosts[host_name]
        health = cast(HealthConfig, revision.health or self.runtime.config.health)
        key = (instance.id, instance.pid)
        try:
            got = self._await(host, instance, health) if starting and \
                key not in self._listening else None
            if got is not None:
                entry = got.get("entry")
                if got["alive"] and got["listening"] is False:
                    return True, False, f"{got['seen']} (looked from {host_name})"
                if got.get("owned"):
                    self._remember(key)
            else:
                entry = host.table(self.runtime.remote_dir, "live_entry", instance.id,
                                   instance.pid, timeout=health.timeout + 1)
        except HostFailure as e:
            return True, False, e
        except RuntimeFailure as e:
            return True, False, str(e)
        if entry is None:
            return False, False, self._ended(host, instance, brief, health)
        ok, seen = self.runtime._probe(instance.address, health)
        if ok and not self._owns_port(host, instance.id, entry):
            return True, False, (f"{seen}, but instance {instance.id} (pid {entry['pid']} on "
                                 f"{host_name}) does not listen on port {entry['port']}: "
                                 f"another process took it")
        return True, ok, seen

    def _await(self, host: SshHost, instance: Instance, health: HealthConfig) -> dict | None:
        """await_listening on the instance's host; None when AWAITS of that host's sessions
        wait already (the look is then a plain one: the host's other calls keep theirs)."""
        with self._awaits_lock:
            if self._awaits.get(host.name, 0) >= AWAITS:
                return None
            self._awaits[host.name] = self._awaits.get(host.name, 0) + 1
        try:
            wait = min(max(health.interval, AWAIT), health.start_timeout)
            return host.table(self.runtime.remote_dir, "await_listening", instance.id,
                              instance.pid, wait, min(HOST_POLL, health.interval),
                              health.timeout, timeout=wait + health.timeout + 1)
        finally:
            with self._awaits_lock:
                self._awaits[host.name] -= 1

    def _owns_port(self, host: SshHost, name: str, entry: dict) -> bool:
        key = (name, entry["pid"])
        if key not in self._listening and host.table(self.runtime.remote_dir, "owns_port",
                                                     entry["pid"], entry["port"]):
            self._remember(key)
        return key in self._listening

    def _remember(self, key: tuple[str, int | None]) -> None:
        if len(self._listening) >= KEPT:
            self._listening.clear()
        self._listening.add(key)

    def forget(self, instance: Instance) -> None:
        """`instance` stopped: what was learnt of it is of no more use."""
        self._listening.discard((instance.id, instance.pid))

    def _ended(self, host: SshHost, instance: Instance, brief: bool,
               health: HealthConfig) -> str:
        """How `instance` ended, as its host recorded it (InstanceTable.ended)."""
        log = f"{host.name}:{self.runtime.remote_dir}/logs/{instance.id}.log"
        try:
            got = host.table(self.runtime.remote_dir, "ended", instance.id, instance.pid,
                             0 if brief else TAIL_LINES, timeout=health.timeout + 1)
        except (HostFailure, RuntimeFailure) as e:  # gone all the same: its host said so
            got = {"how": {}, "tail": [], "unknown": f" (its host did not say how: {e})"}
        if brief:
            return exits.words(got["how"])
        return ended_text(instance.id, f"pid {instance.pid} on {host.name}", got, log)
