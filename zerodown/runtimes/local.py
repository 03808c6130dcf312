"""The `local` runtime: instances are processes on this machine.

Each instance runs in its own session (so it outlives the controller) on a
free port of 127.0.0.1, with its output in state_dir/logs/<instance>.log.
What was started is recorded in state_dir/instances.json — pid *and* the
kernel's start time of that pid, so a reused pid is never mistaken for ours —
before anything relies on it; a restarted controller adopts those instead of
starting duplicates. Stop is SIGTERM to the instance's process group, then
SIGKILL after the grace period (process handling: zerodown/hosts/local.py).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from typing import Collection, cast

from zerodown.config import AppConfig, HealthConfig, ServiceConfig
from zerodown.errors import ConfigError, RuntimeFailure
from zerodown.hosts import exits
from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.local import running, tail
from zerodown.model import Instance, InstanceRef, Revision, Slot
from zerodown.runtimes.ended import ended_text, tail_text
from zerodown.runtimes.health import probe
from zerodown.runtimes.release import (argv_of, check_release, folder, instance_env, instance_of,
                                       render, resolve)

HOST = "127.0.0.1"
TAIL_LINES = 15


class LocalRuntime:
    """Runtime protocol over child processes; see the module docstring."""

    stops_slowly = True  # a stop waits for the process to drain and exit: worth overlapping
    stops_once = True  # a stop asked again awaits the first (hosts/stop_once.py)

    def __init__(self, state_dir: str | os.PathLike, config: ServiceConfig):
        self.table = InstanceTable(state_dir)
        self.state_dir, self.log_dir = self.table.state_dir, self.table.log_dir
        self.config = config
        self._listening: set[tuple[str, int]] = set()  # (instance, pid) seen owning its port

    # --- the Runtime protocol ----------------------------------------------

    def start(self, revision: Revision, slot: Slot) -> Instance:
        name = InstanceRef(revision.number, slot).name(revision.service)
        got = self.table.claim(name, {
            "service": revision.service, "revision": revision.number,
            "version": revision.version, "slot": slot.index, "host": slot.host,
            "logs": self.config.logs.record()}, HOST)
        if "live" in got:
            return instance_of(got["live"])
        try:
            app = render(revision, slot, name, got["port"], HOST)
            argv, cwd = argv_of(app), self._cwd(app, name)
            env = instance_env(self.config, app)
        except ConfigError as e:  # a secret or env_file gone since `plan` checked it
            self.table.drop(name)
            raise RuntimeFailure(f"instance {name}: {e}") from None
        except RuntimeFailure:
            self.table.drop(name)
            raise
        try:
            entry = self.table.launch(name, argv, cwd, env,
                                      banner=f"starting {name}: {shlex.join(argv)} (cwd {cwd})")
        except RuntimeFailure as e:
            raise RuntimeFailure(f"{e}; app.command in {self._file}") from None
        return instance_of(entry)

    def stop(self, instance: Instance, grace: float) -> None:
        self.table.stop(instance.id, instance.pid, grace, f"instance {instance.id}")

    def alive(self, instance: Instance) -> bool:
        entry = self._entry(instance)
        return entry is not None and running(entry["pid"], entry["start_time"])

    def healthy(self, instance: Instance, revision: Revision) -> tuple[bool, str]:
        entry = self._entry(instance)
        if entry is None or not running(entry["pid"], entry["start_time"]):
            return False, self._gone(instance, entry)
        health = cast(HealthConfig, revision.health or self.config.health)
        ok, seen = probe(instance.address, health)
        if not running(entry["pid"], entry["start_time"]):
            return False, self._gone(instance, entry)  # it died while we probed
        if ok and not self._owns_port(instance.id, entry):
            return False, (f"{seen}, but instance {instance.id} (pid {entry['pid']}) does not "
                           f"listen on port {entry['port']}: another process took it; "
                           f"{self._tail(instance.id)}")
        return ok, seen

    def glance(self, instance: Instance, revision: Revision) -> tuple[bool, bool, str]:
        """(alive, healthy, what was seen) for `zerodown status`: of one gone, how it ended
        in a few words (exits.words), its log's lines not read."""
        entry = self._entry(instance)
        if entry is None or not running(entry["pid"], entry["start_time"]):
            return False, False, exits.words(self.table.ended(instance.id, instance.pid)["how"])
        ok, seen = self.healthy(instance, revision)
        return True, ok, seen

    def adopt(self, service: str, recorded: Collection[str] = ()) -> list[Instance]:
        found = [instance_of(e) for e in self.table.adopt(service)]
        return sorted(found, key=lambda i: (i.revision, i.slot))

    def logs(self, instance: Instance) -> str:
        return str(self.log_dir / f"{instance.id}.log")

    def check_release(self, app: AppConfig, version: str, keep: frozenset[str] = frozenset(),
                      unlisted: Collection[str] = ()) -> None:
        check_release(replace(self.config, app=app), version)

    # --- starting ----------------------------------------------------------

    def _cwd(self, app: AppConfig, name: str) -> str:
        cwd = resolve(self.config, os.path.join(app.release or ".", app.cwd or "."))
        if not os.path.isdir(cwd):
            raise RuntimeFailure(f"instance {name}: working directory {cwd} does not exist "
                                 f"(app.cwd {app.cwd!r} in {self._file}, relative to "
                                 f"{folder(self.config)})")
        return cwd

    @property
    def _file(self) -> str:
        return self.config.file or "the configuration"

    # --- looking ---------------------------------------------------------

    def _entry(self, instance: Instance) -> dict | None:
        """The record of exactly this instance (same pid), if it is still recorded."""
        return self.table.entry(instance.id, instance.pid)

    def _gone(self, instance: Instance, entry: dict | None) -> str:
        if entry is None and not os.path.exists(self.logs(instance)):
            return (f"instance {instance.id} is not running "
                    f"(stopped, or not started by this runtime)")
        got = self.table.ended(instance.id, instance.pid, TAIL_LINES)
        return ended_text(instance.id, f"pid {instance.pid}", got, self.logs(instance))

    def _tail(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return tail_text(str(path), tail(path, TAIL_LINES))

    def _owns_port(self, name: str, entry: dict) -> bool:
        """Does the port's listener belong to the instance's session, not a stranger?"""
        key = (name, entry["pid"])
        if key not in self._listening and self.table.owns_port(entry["pid"], entry["port"]):
            self._listening.add(key)
        return key in self._listening
