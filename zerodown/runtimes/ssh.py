"""The `ssh` runtime: instances are processes on a fleet of hosts reached over SSH.

Slot i is started on host i mod N (runtime.hosts, in order), so `instances` spreads
evenly and a replaced instance stays on its host; the host is returned with the
Instance (runs_on) and recorded with its row, so it is found there after the list
changed. On each host the instances of
a service are kept under <state_dir>/services/<service> by the same InstanceTable
as the local runtime's (zerodown/hosts/instances.py, run there by the agent:
zerodown/hosts/ssh.py): registry with pid and start time, intent before spawn,
adopted after a controller restart, never a duplicate, never a stranger's
process. An instance listens on {host}:{port}, {host} being the host's address as
this machine reaches it; health probes are made from where the load balancer
runs (this machine, or router.host through the agent there). A host that does not answer makes its instances unhealthy (they leave
the table by health) — never "stopped" or "not running".

Before a version is deployed (check_release, before a revision number is taken)
every host is checked at once (zerodown/hosts/preflight.py), with the hosts no longer
listed that the plan acts on (engine/unlisted.py): a host that is not ready refuses the
deployment, naming it, with nothing changed; then app.release is
uploaded to every host (runtimes/ssh_release.py) and is the instances' working
directory there.
"""

from __future__ import annotations

import os
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Collection

from zerodown.config import AppConfig, HealthConfig, ServiceConfig
from zerodown.errors import ConfigError, HostFailure, RuntimeFailure
from zerodown.hosts.local import KILL_WAIT
from zerodown.hosts.ssh import SshHost
from zerodown.owner import Identity, identity as controller_identity
from zerodown.model import (Adopted, Instance, InstanceRef, Revision, Slot, host_for,
                            hosts_to_ask)
from zerodown.runtimes import connections_for, release, ssh_owner, ssh_release
from zerodown.runtimes.health import probe, split_address
from zerodown.runtimes.listed_names import ListedNames
from zerodown.runtimes.ssh_look import Looks
from zerodown.runtimes.ssh_options import parse_host


PREFETCH_FRESH = 2.0  # s an adopt asked with the release check stands for the run's own:
                      # deploy() checks, then run() adopts at once (or after a wait for the
                      # deployment before it, which starts and stops, dropping it)


class SshRuntime:
    """Runtime protocol over SSH hosts; see the module docstring."""

    stops_slowly = True
    stops_once = True  # a stop asked again awaits the first (hosts/stop_once.py)
    parallel = True  # a step's instances are started and probed at once, across the hosts

    def __init__(self, state_dir: str | os.PathLike, config: ServiceConfig, kept=None):
        self.config = config
        self.local_state = Path(state_dir)  # this controller's: its identity (owner.py)
        self.connections = connections_for(config, kept)  # kept: runtimes/kept.py
        self._kept = kept  # they are let go there, not closed, by close()
        self.options = self.connections.options
        self.names = [spec.name for spec in self.options.hosts]
        self.hosts = {n: SshHost(self.connections, n, self.options.state_dir) for n in self.names}
        self.remote_dir = f"{self.options.state_dir.rstrip('/')}/services/{config.service}"
        self.release_base = f"{self.options.state_dir.rstrip('/')}/releases/{config.service}"
        # kept threads for a call on every host at once (the adopt, the release check, a
        # hasten, a per_host hook): a pool made per call starts a thread per host, ~0.1-2 ms
        # each on a loaded machine, before the last host is asked; two such calls at once
        # keep their own threads. A task here never waits on another task of the pool.
        self.every_host = ThreadPoolExecutor(min(64, 2 * max(1, len(self.names))), "hosts")
        self.looks = Looks(self)  # a WaitHealthy's and status's looks at instances
        self._on_address: dict[str, str] = {}  # an address instances listen on -> its host
        self._names = ListedNames(self.options, self.connections.folder)

    @cached_property
    def me(self) -> Identity:
        """This controller, as the service's owner on the hosts (hosts/owner.py)."""
        return controller_identity(self.local_state)

    @property
    def asking_id(self) -> str:
        """This controller's id where it has one (`me`), else an empty one that no owner
        record names (a look, as `status` from a folder that never deployed, makes none)."""
        got = self.__dict__.get("me")  # (me, once asked: cached_property)
        return (got or controller_identity(self.local_state, make=False)).id

    def _act(self, host: SshHost, method: str, *args, timeout: float | None = None):
        """A change to the service's instances on `host` (InstanceTable `method`), asked as
        this controller: the host refuses it (NotOwner) once another has taken the service
        over (agent.py `owned`; no round trip added: the owner record is read there)."""
        return host.owned(self.remote_dir, self.me.id, "table", method, *args,
                          timeout=timeout)

    def host_named(self, name: str) -> SshHost:
        """The fleet host `name` (router.host: one of runtime.hosts or an ssh_config Host),
        reached over the same connections as the instances' hosts."""
        if name not in self.hosts:
            self.connections.specs.setdefault(name, parse_host(name))
            self.hosts[name] = SshHost(self.connections, name, self.options.state_dir)
        return self.hosts[name]

    def listed_as(self, name: str) -> str | None:
        """The name runtime.hosts gives the host `name` is (runtimes/listed_names.py)."""
        return self._names.listed_as(name)

    def router_dir(self, service: str, shared: str | None = None) -> str:
        """The folder on router.host keeping the service's load balancer's files; `shared`:
        the shared proxy's, the same for every zerodown.yaml naming it there."""
        base = self.options.state_dir.rstrip('/')
        return f"{base}/proxies/{shared}" if shared else f"{base}/routers/{service}"

    def host_of(self, slot: Slot) -> str:
        return host_for(self.names, slot.index)

    def host_running(self, instance: Instance) -> str:
        """The host `instance` runs on, where it is acted on and looked at: the one recorded
        with it (runs_on: start() or adopt() said so), listed in runtime.hosts or not
        (host_named reaches one no longer listed by its name, as ssh_config knows it; adopt
        asks it while a live row records it, and names it when it does not answer); for a
        row of an older store, the host whose address it listens on, as adopt() and
        start() learned it, else its slot's. Acted on anywhere else — its slot's host once
        runtime.hosts changed — it was looked for where it never ran, "stopped" there, and
        left running."""
        if instance.runs_on:
            host = self.listed_as(instance.runs_on) or instance.runs_on
            self.host_named(host)
            return host
        where = split_address(instance.address)[0] if instance.address else ""
        return self._on_address.get(where) or self.host_of(instance.slot)

    def address_of(self, host: str) -> str:
        """The host's address as this machine reaches it (what {host} is)."""
        address = self.connections.peer_address(host)
        self._on_address[address.strip("[]")] = host
        return address

    # --- the Runtime protocol ----------------------------------------------

    def start(self, revision: Revision, slot: Slot) -> Instance:
        """One round trip where {port} is used plainly (InstanceTable.start claims the port
        and launches, the intent saved before the spawn), else claim, then launch."""
        self._forget_prefetched()  # what runs changes: an adopt asked before is out of date
        try:
            return self._start(revision, slot)
        finally:
            self._forget_prefetched()  # (and one asked while it was under way)

    def _start(self, revision: Revision, slot: Slot) -> Instance:
        name = InstanceRef(revision.number, slot).name(revision.service)
        host_name = self.host_of(slot)
        host, address = self.hosts[host_name], self.address_of(host_name)
        record = {"service": revision.service, "revision": revision.number,
                  "version": revision.version, "slot": slot.index, "host": slot.host,
                  "on": host_name, "logs": self.config.logs.record()}
        banner = f"starting {name} on {host_name}"
        app = release.render_later_port(revision, slot, name, address)
        try:
            command = self._command(app, revision.version, name) if app else None
        except RuntimeFailure:
            command = None  # (the two steps below report it)
        if command is not None:
            got = self._act(host, "start", name, record, address, *command, banner)
            return release.instance_of(got.get("live") or got["started"], host_name)
        got = self._act(host, "claim", name, record, address)
        if "live" in got:
            return release.instance_of(got["live"], host_name)
        try:
            argv, cwd, env = self._command(
                release.render(revision, slot, name, got["port"], address), revision.version,
                name)
        except RuntimeFailure:
            self._act(host, "drop", name)
            raise
        entry = self._act(host, "launch", name, argv, cwd, env,
                          f"{banner}: {shlex.join(argv)} (cwd {cwd})")
        return release.instance_of(entry, host_name)

    def _command(self, app: AppConfig, version: str,
                 name: str) -> tuple[list[str], str, dict[str, str]]:
        """argv, working directory on the host and environment of a rendered app."""
        try:
            argv = release.argv_of(app)
            home = ssh_release.remote_folder(self, version) if app.release else self.remote_dir
            env = release.instance_env(self.config, app)
        except (ConfigError, RuntimeFailure) as e:
            raise RuntimeFailure(f"instance {name}: {e}") from None
        return argv, os.path.normpath(os.path.join(home, app.cwd or ".")), env

    def stop(self, instance: Instance, grace: float, yielding: bool = False) -> None:
        self._forget_prefetched()
        try:
            self._act(self.hosts[self.host_running(instance)], "stop", instance.id,
                      instance.pid, grace, f"instance {instance.id}", yielding,
                      timeout=grace + KILL_WAIT + self.options.command_timeout)
            self.looks.forget(instance)
        finally:
            self._forget_prefetched()

    def hasten(self, instances: list[Instance]) -> None:
        """Their own CPU priority back to `instances` still exiting from a yielding stop,
        one call per host, at once. A host that does not answer is left to its stop, which
        gives it back after half of stop_grace."""
        by_host: dict[str, list[str]] = {}
        for inst in instances:
            by_host.setdefault(self.host_running(inst), []).append(inst.id)

        def ask(host: str) -> None:
            try:
                self._act(self.hosts[host], "hasten", by_host[host],
                          timeout=self.options.command_timeout)
            except (HostFailure, RuntimeFailure):
                pass
        list(self.every_host.map(ask, by_host))

    def alive(self, instance: Instance) -> bool:
        return self.hosts[self.host_running(instance)].table(
            self.remote_dir, "alive", instance.id, instance.pid)

    def healthy(self, instance: Instance, revision: Revision) -> tuple[bool, str]:
        _, ok, seen = self.looks.look(instance, revision, starting=False)
        return ok, str(seen)

    def glance(self, instance: Instance, revision: Revision
               ) -> tuple[bool, bool, str | HostFailure]:
        """(alive, healthy, what was seen) in one round trip bounded like the probe, not
        waiting for a starting instance to listen: `zerodown status`'s look (gather.py), at
        the host it runs on even if runtime.hosts no longer lists it; of one gone, how it
        ended in a few words."""
        return self.looks.look(instance, revision, starting=False, brief=True)

    def look(self, instance: Instance, revision: Revision
             ) -> tuple[bool, bool, str | HostFailure]:
        """(alive, healthy, what was seen) for a WaitHealthy step, in one round trip to the
        host (and a probe). Until the instance first listens, the round trip waits on its
        host for that (await_listening: a look every HOST_POLL, up to AWAIT), so it is probed
        within milliseconds of listening, not up to a health.interval later, and a batch
        starting costs a call per instance every AWAIT, not every interval. Every probe that
        counts is still made from where the load balancer runs, one a round: a round the
        host saw nothing listen in is one whose probe would have been refused. A host that
        did not answer is what was seen (the HostFailure): if it is still the last look
        when start_timeout passes, the step fails as the host's, not the instance's."""
        return self.looks.look(instance, revision, starting=True)

    def adopt(self, service: str, recorded: Collection[str] = ()) -> Adopted:
        """Every host's instances at once: runtime.hosts, and the hosts `recorded` with the
        service's live rows that the list no longer has (model.hosts_to_ask; one it has
        under another name, listed_as, is asked once, as listed, and named by both when
        silent); a host that does not answer, listed or not, is named in `unreachable`
        (its instances unknown), the others are adopted all the same. A host whose adopt
        was asked with the release check of the deployment this adopt begins (prefetched,
        kept with the connections, so the controller daemon's request and run share it:
        nothing started or stopped over them since, within PREFETCH_FRESH) is not asked
        again: a round trip less before the first step (a network's round trip, on a
        fleet far away); what it saw is as recent as any adopt's is by the time its
        answer is used."""
        remote_dir = f"{self.options.state_dir.rstrip('/')}/services/{service}"
        renamed = {n: listed for n in recorded if n not in self.names
                   and (listed := self.listed_as(n)) is not None}
        names = hosts_to_ask(self.names, [renamed.get(n, n) for n in recorded])
        taken = self.connections.prefetched.pop(remote_dir, None)
        ready = taken[1] if taken is not None and \
            time.monotonic() - taken[0] <= PREFETCH_FRESH else {}
        mine = self.asking_id  # another's adopt is a read there (agent.py `owned`)

        def ask(name: str) -> list | HostFailure:
            if name in ready:
                return ready[name]
            try:
                return self.host_named(name).owned(remote_dir, mine, "table", "adopt", service)
            except HostFailure as e:
                return e
        answers = dict(zip(names, self.every_host.map(ask, names)))
        for name, answer in answers.items():   # where each runs: see host_running
            for entry in [] if isinstance(answer, HostFailure) else answer:
                if entry.get("address"):
                    self._on_address[split_address(entry["address"])[0]] = name
        instances = [release.instance_of(e, name) for name, a in answers.items()
                     if not isinstance(a, HostFailure) for e in a]
        silent = {n: str(a) for n, a in answers.items() if isinstance(a, HostFailure)}
        silent.update({old: silent[new] for old, new in renamed.items() if new in silent})
        return Adopted(sorted(instances, key=lambda i: (i.revision, i.slot)), silent)

    def check_owner(self, names: Collection[str] | None = None,
                    unlisted: Collection[str] = ()) -> None:
        """RuntimeFailure naming each host (of `names`, else runtime.hosts, and `unlisted`:
        hosts off the list holding instances) where another controller owns the service
        (runtimes/ssh_owner.py): `down`, `exec`."""
        ssh_owner.check(self, None if names is None else list(names), list(unlisted))

    def release_owner(self, names: Collection[str]) -> dict:
        """`down`: this controller no longer the owner there; {host: why not} where not."""
        return ssh_owner.release(self, list(names))

    def prefetched(self, answers: dict[str, list]) -> None:
        """Each host's adopt answer, asked with the release check (ssh_release), for the
        adopt of the deployment it checks (adopt())."""
        self.connections.prefetched[self.remote_dir] = (time.monotonic(), answers)

    def _forget_prefetched(self) -> None:
        self.connections.prefetched.pop(self.remote_dir, None)

    def logs(self, instance: Instance) -> str:
        host = self.host_running(instance)
        return f"{host}:{self.remote_dir}/logs/{instance.id}.log"

    def check_release(self, app: AppConfig, version: str, keep: frozenset[str] = frozenset(),
                      unlisted: Collection[str] = ()) -> None:
        """What the controller provides (env_file, secrets), every host's pre-flight, then
        the release uploaded to every host: all before anything changes. `keep`: versions
        whose release folders a prune must leave (the rollback target); `unlisted`: hosts
        no longer listed that the plan acts on, pre-flighted too (nothing sent there)."""
        release.check_release(replace(self.config, app=replace(app, cwd=None)), version)
        ssh_release.check_and_upload(self, version, app, keep, unlisted)

    def run_on_hosts(self, spec, ctx) -> list:
        """A before_start hook with `per_host: true` on every host (runtimes/ssh_release.py)."""
        return ssh_release.run_on_hosts(self, spec, ctx)

    def close(self) -> None:
        kept, self._kept = self._kept, None  # let go once, whatever calls close again
        if kept is not None:
            kept.release(self.connections)  # a long-lived controller's: theirs to close
        elif not self.connections.kept:
            self.connections.close()
        self.every_host.shutdown(wait=False)

    def answers(self, host: str) -> bool:
        """Does `host` answer a command now (bounded by connect and command timeouts)? Any
        host it can name: runtime.hosts, or router.host from runtime.ssh_config (a fresh
        runtime, as the controller's host watch has, knows only the first by itself)."""
        self.host_named(host)
        try:
            return self.connections.run(host, "true", timeout=self.options.connect_timeout).ok
        except HostFailure:
            return False

    # --- looking -------------------------------------------------------------

    def _probe(self, address: str, health: HealthConfig) -> tuple[bool, str]:
        """One health probe, made from where the load balancer runs: here, or router.host
        (by the agent there), so an instance the load balancer cannot reach is unhealthy."""
        lb = self.config.router.host
        if lb is None:
            return probe(address, health)
        try:
            ok, seen = self.host_named(lb).call(
                "probe", address, health.tcp, health.path, health.status, health.timeout,
                timeout=health.timeout + 1)
        except RuntimeFailure as e:
            return False, f"no probe from {lb}, where the load balancer runs: {e}"
        return ok, f"{seen} (probed from {lb})"
