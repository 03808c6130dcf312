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

import fcntl
import json
import os
import re
import shlex
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Collection, Iterator, cast

from zerodown.config import AppConfig, HealthConfig, ServiceConfig
from zerodown.errors import ConfigError, RuntimeFailure
from zerodown.hosts.local import exit_code, forget, running, spawn, start_time, tail, terminate
from zerodown.model import Instance, InstanceRef, Revision, Slot
from zerodown.proxy.state import write_atomic
from zerodown.runtimes.health import probe
from zerodown.runtimes.release import check_release, folder, instance_env, resolve

HOST = "127.0.0.1"
TAIL_LINES = 15
MARK_INSTANCE, MARK_STATE = "ZERODOWN_INSTANCE", "ZERODOWN_STATE_DIR"


class LocalRuntime:
    """Runtime protocol over child processes; see the module docstring."""

    stops_slowly = True  # a stop waits for the process to drain and exit: worth overlapping

    def __init__(self, state_dir: str | os.PathLike, config: ServiceConfig):
        self.state_dir = Path(state_dir).resolve()
        self.log_dir = self.state_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.registry = Registry(self.state_dir / "instances.json")
        self._listening: set[tuple[str, int]] = set()  # (instance, pid) seen owning its port

    # --- the Runtime protocol ----------------------------------------------

    def start(self, revision: Revision, slot: Slot) -> Instance:
        name = InstanceRef(revision.number, slot).name(revision.service)
        with self.registry.locked() as entries:
            if self._live(name, entries):
                self.registry.save(entries)  # keeps a pid _recover found
                return _instance(entries[name])
            if entries.get(name, {}).get("pid"):
                forget(entries[name]["pid"])  # a dead predecessor in this slot
            port = free_port({e["port"] for n, e in entries.items() if self._live(n, entries)})
            app = self._render(revision, slot, name, port)
            argv, cwd = _argv(app), self._cwd(app, name)
            entries[name] = entry = {
                "service": revision.service, "revision": revision.number,
                "version": revision.version, "slot": slot.index, "host": slot.host,
                "address": f"{HOST}:{port}", "port": port, "command": argv, "cwd": cwd,
                "pid": None, "start_time": None}
            self.registry.save(entries)  # intent first: a crash mid-spawn is found by its marker
            proc = self._spawn(name, argv, cwd, app, entries)
            entry.update(pid=proc.pid, start_time=start_time(proc.pid), started_at=time.time())
            self.registry.save(entries)
            return _instance(entry)

    def stop(self, instance: Instance, grace: float) -> None:
        entry = self._entry(instance)
        if entry is None:
            return  # already stopped, or never ours: nothing to signal
        terminate(entry["pid"], entry["start_time"], grace, f"instance {instance.id}")
        forget(entry["pid"])
        with self.registry.locked() as entries:
            if entries.get(instance.id, {}).get("pid") == entry["pid"]:
                del entries[instance.id]
                self.registry.save(entries)

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

    def adopt(self, service: str) -> list[Instance]:
        with self.registry.locked() as entries:
            found = []
            for name, entry in list(entries.items()):
                if entry["service"] != service:
                    continue
                if self._live(name, entries):
                    found.append(_instance(entry))
                else:
                    del entries[name]  # exited (or its pid went to someone else): forget it
            self.registry.save(entries)
        return sorted(found, key=lambda i: (i.revision, i.slot))

    def logs(self, instance: Instance) -> str:
        return str(self.log_dir / f"{instance.id}.log")

    def check_release(self, app: AppConfig, version: str) -> None:
        check_release(replace(self.config, app=app), version)

    # --- starting ----------------------------------------------------------

    def _render(self, revision: Revision, slot: Slot, name: str, port: int) -> AppConfig:
        app = cast(AppConfig, revision.app)
        try:
            return app.render(version=revision.version, port=port, slot=slot.index, instance=name)
        except (KeyError, IndexError, ValueError) as e:
            raise RuntimeFailure(f"instance {name}: cannot fill the placeholders of app.command "
                                 f"{list(app.command)} ({type(e).__name__}: {e}); allowed: "
                                 "{version} {port} {slot} {instance}") from None

    def _cwd(self, app: AppConfig, name: str) -> str:
        cwd = resolve(self.config, app.cwd or ".")
        if not os.path.isdir(cwd):
            raise RuntimeFailure(f"instance {name}: working directory {cwd} does not exist "
                                 f"(app.cwd {app.cwd!r} in {self._file}, relative to "
                                 f"{folder(self.config)})")
        return cwd

    def _spawn(self, name: str, argv: list[str], cwd: str, app: AppConfig,
               entries: dict) -> subprocess.Popen:
        log = self.log_dir / f"{name}.log"
        try:
            full_env = instance_env(self.config, app, {MARK_INSTANCE: name,
                                                       MARK_STATE: str(self.state_dir)})
        except ConfigError as e:  # a secret or env_file gone since `plan` checked it
            del entries[name]
            self.registry.save(entries)
            raise RuntimeFailure(f"instance {name}: {e}") from None
        try:
            return spawn(argv, cwd=cwd, env=full_env, log_path=log,
                         banner=f"starting {name}: {shlex.join(argv)} (cwd {cwd})")
        except OSError as e:
            del entries[name]
            self.registry.save(entries)
            raise RuntimeFailure(f"instance {name}: cannot run {argv[0]!r}: {e.strerror or e} "
                                 f"(app.command in {self._file}, cwd {cwd})") from None

    def _live(self, name: str, entries: dict) -> bool:
        """Is the recorded instance `name` running (its pid recovered if it was never written)?"""
        entry = entries.get(name)
        if not entry or not self._recover(name, entry):
            return False
        return running(entry["pid"], entry["start_time"])

    def _recover(self, name: str, entry: dict) -> bool:
        """Complete a record whose pid was never written (the controller died mid-spawn)."""
        if entry.get("pid"):
            return True
        pid = find_marked(name, str(self.state_dir))
        if pid is None:
            return False
        entry.update(pid=pid, start_time=start_time(pid))
        return entry["start_time"] is not None

    @property
    def _file(self) -> str:
        return self.config.file or "the configuration"

    # --- looking ---------------------------------------------------------

    def _entry(self, instance: Instance) -> dict | None:
        """The record of exactly this instance (same pid), if it is still recorded."""
        entry = self.registry.load().get(instance.id)
        if not entry or not entry.get("pid"):
            return None
        if instance.pid is not None and entry["pid"] != instance.pid:
            return None  # a later incarnation in the same slot: not the one asked about
        return entry

    def _gone(self, instance: Instance, entry: dict | None) -> str:
        if entry is None:
            return (f"instance {instance.id} is not running "
                    f"(stopped, or not started by this runtime)")
        code = exit_code(entry["pid"])
        how = (f"process exited with code {code}" if code is not None and code >= 0
               else f"process was killed by signal {-code}" if code is not None
               else f"process (pid {entry['pid']}) is gone (exit code unknown: "
                    f"an earlier controller started it)")
        return f"{how}; {self._tail(instance.id)}"

    def _tail(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        lines = tail(path, TAIL_LINES)
        return f"last log lines ({path}):\n" + "\n".join(f"  | {line}" for line in lines) \
            if lines else f"its log {path} is empty"

    def _owns_port(self, name: str, entry: dict) -> bool:
        """Does the port's listener belong to the instance's session, not a stranger?"""
        key = (name, entry["pid"])
        if key in self._listening:
            return True
        inodes = listening_inodes(entry["port"])
        if inodes is None or session_holds(entry["pid"], inodes):
            self._listening.add(key)  # no /proc/net to look at: trust the probe
            return True
        return False


def _instance(entry: dict) -> Instance:
    return Instance(entry["service"], entry["revision"], Slot(entry["slot"], entry["host"]),
                    entry["address"], entry["pid"], entry.get("version"))


def _argv(app: AppConfig) -> list[str]:
    command = app.command
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


# --- the registry ---------------------------------------------------------

class Registry:
    """A JSON map name -> record, changed only under a lock (threads and processes)."""

    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[dict]:
        with self._thread_lock, open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield self.load()

    def load(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f).get("instances", {})
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise RuntimeFailure(f"{self.path}: cannot read the instance registry ({e}); fix "
                                 f"or remove it (its running instances are then not adopted)"
                                 ) from None

    def save(self, entries: dict) -> None:
        write_atomic(str(self.path), json.dumps({"instances": entries}, indent=1, sort_keys=True))


# --- finding our own processes --------------------------------------------

def find_marked(name: str, state_dir: str) -> int | None:
    """The pid of a process started for instance `name` of `state_dir`, by its environment."""
    want = {f"{MARK_INSTANCE}={name}".encode(), f"{MARK_STATE}={state_dir}".encode()}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                env = set(f.read().split(b"\0"))
        except OSError:
            continue
        if want <= env and start_time(int(entry.name)) is not None:
            return int(entry.name)
    return None


def listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP `port` (any address); None without /proc/net.

    One regex over the whole table, in C: after a load test the table holds tens of
    thousands of TIME_WAIT rows, and a Python loop over them costs a health check 10 ms.
    """
    row = re.compile(rb"^ *\d+: [0-9A-F]+:%04X [0-9A-F]+:[0-9A-F]{4} 0A(?: +\S+){5} +(\d+)"
                     % port, re.MULTILINE)
    inodes, seen_any = set(), False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, "rb") as f:
                data = f.read()
        except OSError:
            continue
        seen_any = True
        inodes.update(m.group(1).decode() for m in row.finditer(data))
    return inodes if seen_any else None


def _holds(pid: str, links: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in links:
                return True
        except OSError:
            continue
    return False


def session_holds(session: int, inodes: set[str]) -> bool:
    """Does a process of session `session` hold one of these socket inodes?"""
    links = {f"socket:[{i}]" for i in inodes}
    if _holds(str(session), links):  # nearly always the instance itself: skip the scan
        return True
    return any(entry.name.isdigit() and _in_session(entry.name, session)
               and _holds(entry.name, links) for entry in os.scandir("/proc"))


def _in_session(pid: str, session: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return int(data[data.rindex(b")") + 2:].split()[3]) == session


def free_port(taken: Collection[int] = (), host: str = HOST) -> int:
    """A port the OS says is free now, and not one recorded for a live instance."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise RuntimeFailure(f"no free port on {host} after 50 tries")
