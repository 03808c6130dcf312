"""The instances of one state directory on the machine this runs on: their registry and
the guarantees around it, for the local runtime in-process and for the ssh runtime on
each host (through zerodown/hosts/agent.py) — one implementation (stdlib only).

    table = InstanceTable("/var/lib/zerodown")
    got = table.claim("shop-r3-0", record, bind="127.0.0.1")  # {"live": entry} | {"port": p}
    entry = table.launch("shop-r3-0", argv, cwd, env, banner)  # spawned, pid + start time saved
    got = table.start("shop-r3-0", record, "127.0.0.1", argv, cwd, env, banner)  # both at once
    table.await_listening("shop-r3-0", pid, wait=0.25, poll=0.005, timeout=1)  # on the host
    table.stop("shop-r3-0", entry["pid"], grace=10, what="instance shop-r3-0")
    table.adopt("shop")                                         # the live entries; the dead forgotten

What was started is recorded in <state_dir>/instances.json (a journal, whose format and
syncs zerodown/hosts/registry.py reasons about) — pid *and* the kernel's start time of
that pid, so a reused pid is never mistaken for ours, and the machine's boot id, so a
record from before a reboot never names a stranger — before anything relies on it: an
intent (no pid yet) durable before the spawn, the pid right after. A record whose pid was
never written (the controller died mid-spawn) is completed by finding the process by the
marks in its environment, so a restarted controller adopts it instead of starting a
duplicate. Process handling itself: zerodown/hosts/local.py; the wait for a starting
instance to listen: zerodown/hosts/listen_wait.py.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import time
from pathlib import Path
from typing import Collection

from zerodown.errors import RuntimeFailure
from zerodown.hosts import exits, listen_wait, priority, stop_once
from zerodown.hosts.local import (LogUnwritable, await_exit, forget, running, settle_log,
                                  spawn, start_time, tail)
from zerodown.hosts.log_prune import bounds_of
from zerodown.hosts.process_identity import boot_id, this_boot
from zerodown.hosts.registry import Registry

MARK_INSTANCE, MARK_STATE = "ZERODOWN_INSTANCE", "ZERODOWN_STATE_DIR"
# Stands for the port claim() chooses in what start() is given (argv, cwd, env, banner):
# a NUL cannot be in an argument or environment value, so it is never the user's text.
PORT = "\0zerodown-port\0"
# How long an adopt keeps a claim whose process has not been launched: more than any
# controller's wait between a claim and its launch (one round trip, its command's timeout).
CLAIM_HOLD = 120.0


class InstanceTable:
    """The registry of one state directory and what may be done to its instances."""

    def __init__(self, state_dir: str | os.PathLike):
        self.state_dir = Path(state_dir).resolve()
        self.log_dir = self.state_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(self.state_dir / "instances.json")

    def claim(self, name: str, record: dict, bind: str) -> dict:
        """{"live": entry} if `name` runs already (never a duplicate); else an intent
        record with a free port of `bind` is saved and {"port": port} returned."""
        with self.registry.locked() as entries:
            return self._claim(entries, name, record, bind)

    def launch(self, name: str, argv: list[str], cwd: str, env: dict[str, str],
               banner: str) -> dict:
        """Start the claimed instance `name`; its record gets pid and start time."""
        with self.registry.locked() as entries:
            return self._launch(entries, name, argv, cwd, env, banner)

    def start(self, name: str, record: dict, bind: str, argv: list[str], cwd: str,
              env: dict[str, str], banner: str) -> dict:
        """claim() then launch() in one call (one round trip from the controller) and one
        hold of the lock, PORT in argv, cwd and env replaced by the claimed port (the log's
        banner gets the command and cwd after `banner`): {"live": entry} if `name` runs
        already, else {"started": entry, "at": ...}. The intent is durable before the spawn
        as with two calls, so a crash in between leaves a record found again by the marks.

        "at" (also in await_listening's and stop's answers): this host's wall-clock times of
        the call's events (called, spawning, spawned, answered; refused, listening; exited),
        so a trace places the host's part of a batch beside the controller's calls
        (benchmarks/fleet_deploy.py --trace); nothing acts on them."""
        at = {"called": time.time()}
        with self.registry.locked() as entries:
            got = self._claim(entries, name, record, bind)
            if "live" in got:
                return got
            port = str(got["port"])
            fill = lambda text: text.replace(PORT, port)  # noqa: E731
            argv, cwd = [fill(a) for a in argv], fill(cwd)
            started = self._launch(entries, name, argv, cwd,
                                   {k: fill(v) for k, v in env.items()},
                                   f"{banner}: {shlex.join(argv)} (cwd {cwd})", at)
        return {"started": started, "at": {**at, "answered": time.time()}}

    def _claim(self, entries: dict, name: str, record: dict, bind: str) -> dict:
        had_pid = bool(entries.get(name, {}).get("pid"))
        if self._live(name, entries):
            if not had_pid:  # a pid _recover found: kept, no sync (the marks find it again)
                self.registry.save(entries, sync=False)
            return {"live": entries[name]}
        if had_pid:
            forget(entries[name]["pid"])  # a dead predecessor in this slot
        # every recorded port is kept from the new claim, a dead one's too (there are
        # thousands): asking which run costs a look per record, a scan of every process's
        # environment for a claim that never got its pid, before the spawn
        port = free_port({e["port"] for n, e in entries.items() if n != name}, bind)
        entries[name] = {**record, "address": f"{bind}:{port}", "port": port,
                         "pid": None, "start_time": None, "dir": str(self.state_dir),
                         "claimed": [boot_id(), time.monotonic()]}
        self.registry.save(entries)  # synced: the one write a crash needs before a spawn
        return {"port": port}

    def _launch(self, entries: dict, name: str, argv: list[str], cwd: str,
                env: dict[str, str], banner: str, at: dict | None = None) -> dict:
        entry = entries.get(name)  # the intent claim() saved: a crash mid-spawn leaves a
        if entry is None or entry.get("pid"):  # record found again by the marks
            raise RuntimeFailure(
                f"instance {name}: its claim on this host is gone (an adopt found it not "
                f"started more than {CLAIM_HOLD:g}s after it was made); nothing was "
                f"started, start it again" if entry is None else
                f"instance {name}: launched already (pid {entry['pid']}); not started twice")
        entry.update(command=argv, cwd=cwd)
        marks = {MARK_INSTANCE: name, MARK_STATE: str(self.state_dir)}
        if at is not None:
            at["spawning"] = time.time()  # the intent durable: the app's fork and exec
        try:
            proc = spawn(argv, cwd=cwd, env={**env, **marks}, log_path=self.log(name),
                         banner=banner, stamp=True, bounds=bounds_of(entry))
        except OSError as e:
            del entries[name]
            self.registry.save(entries, sync=False)
            if isinstance(e, LogUnwritable):
                raise RuntimeFailure(f"instance {name}: cannot write its log {e.filename}: "
                                     f"{e.strerror}; nothing was started") from None
            if cwd and not os.path.isdir(cwd):  # not the program: Popen names it either way
                raise RuntimeFailure(f"instance {name}: working directory {cwd} does not "
                                     f"exist here (app.cwd; on a fleet `app.release` uploads "
                                     f"a version's folder, else it must be there)") from None
            raise RuntimeFailure(f"instance {name}: cannot run {argv[0]!r}: "
                                 f"{e.strerror or e} (cwd {cwd})") from None
        if at is not None:
            at["spawned"] = time.time()  # exec'd, its log stamper forked
        entry.update(pid=proc.pid, start_time=start_time(proc.pid), started_at=time.time(),
                     boot=boot_id())
        entry.pop("claimed", None)
        self.registry.save(entries, sync=False)  # lost, the marks find the pid again
        return entry

    def drop(self, name: str) -> None:
        """Forget a claim that will not be launched (its command could not be made)."""
        with self.registry.locked() as entries:
            if name in entries and not entries[name].get("pid"):
                del entries[name]
                self.registry.save(entries, sync=False)

    def entry(self, name: str, pid: int | None = None) -> dict | None:
        """The record of exactly this instance (same pid, when given), if still recorded."""
        return self._recorded(self.registry.load(), name, pid)

    def _recorded(self, entries: dict, name: str, pid: int | None = None) -> dict | None:
        entry = recorded(entries, name, pid)
        return None if entry is None or self.elsewhere(entry) else entry

    def elsewhere(self, entry: dict) -> bool:
        """Was the record written by another state directory, which still holds its
        registry? This one is then a copy of it (`cp -a` of a project, a backup restored)
        and the process is that directory's: neither adopted nor stopped from here (a
        `down` in a copy stopped the original's instances). One whose directory is gone
        (the folder was moved) is this one's."""
        where = entry.get("dir")
        return where is not None and where != str(self.state_dir) and \
            os.path.exists(os.path.join(where, "instances.json"))

    def alive(self, name: str, pid: int | None = None) -> bool:
        return self.live_entry(name, pid) is not None

    def live_entry(self, name: str, pid: int | None = None) -> dict | None:
        """The record of this instance if its process runs (one question, for a probe)."""
        entry = self.entry(name, pid)
        return entry if entry is not None and running(entry["pid"], entry["start_time"]) else None

    def ended(self, name: str, pid: int | None, lines: int = 0) -> dict:
        """How the instance `name` (`pid`), not running, ended (zerodown/hosts/exits.py:
        {} if unknown) and, given `lines`, its log's last lines: {"how": ..., "tail": [...]}.
        Its exit known, its stamper (if started by this process) is let write its last
        lines first."""
        entry = self.entry(name, pid)
        how = exits.ended(self.log(name), pid, entry.get("start_time") if entry else None)
        if how and lines:
            settle_log(self.log(name))
        return {"how": how, "tail": tail(self.log(name), lines) if lines else []}

    def await_listening(self, name: str, pid: int | None, wait: float, poll: float,
                        timeout: float) -> dict:
        """Wait here up to `wait` s for the starting instance to listen, looking every
        `poll` s; {"alive": False} if its process is gone (or is not ours), else whether
        it listens (zerodown/hosts/listen_wait.py says the answer)."""
        at = {"called": time.time()}
        entry = self.live_entry(name, pid)
        if entry is None:
            return {"alive": False}
        return listen_wait.await_listening(entry, wait, poll, timeout, at)

    def stop(self, name: str, pid: int | None, grace: float, what: str,
             yielding: bool = False) -> dict:
        """SIGTERM, SIGKILL after `grace`; then the record goes. Not ours: nothing. Sent
        once (zerodown/hosts/stop_once.py): a stop of an instance whose stop is under way
        signals nothing, it awaits that stop's exit, SIGKILL at that stop's deadline; one
        whose SIGTERM never went (its sender killed after its mark) is stopped anew.
        `yielding` (others start beside this exit): a low CPU priority first, given
        back by hasten() or after half of `grace` (zerodown/hosts/priority.py); what it
        was is kept in the record, for a hasten() from another session of the agent."""
        at = {"called": time.time()}
        with self.registry.locked() as entries:
            entry = self._recorded(entries, name, pid)
            if entry is None:
                return {"at": at}
            before = dict(entry)
            first = stop_once.mark(entry, grace, yielding)
            if entry != before:  # unsynced: why, stop_once.py
                stop_once.save(self.registry, entries)
            if first:
                stop_once.send(self.registry, entries, entry)
            pid, started, yielded = entry["pid"], entry["start_time"], entry.get("yielded")
            sent, grace = stop_once.deadline(entry, grace)
        if before.get("yielded") and not yielded:
            self._give_back(before)
        await_exit(pid, started, sent, grace, what, yielded)
        at["exited"] = time.time()
        forget(pid)
        with self.registry.locked() as entries:
            if entries.get(name, {}).get("pid") == pid:
                del entries[name]
                stop_once.save(self.registry, entries)  # lost, it names an ended process
        return {"at": {**at, "answered": time.time()}}

    def hasten(self, names: Collection[str]) -> None:
        """Give back their own CPU priority to the instances `names` whose yielding stop
        is still waiting for their exit (nothing more starts beside it)."""
        entries = self.registry.load()
        for name in names:
            entry = entries.get(name)
            if entry and entry.get("yielded") and entry.get("pid"):
                self._give_back(entry)

    def _give_back(self, entry: dict) -> None:
        if running(entry["pid"], entry["start_time"]):  # still the process it lowered
            priority.give_back(entry["pid"], entry["yielded"])

    def adopt(self, service: str, tidy: bool = True) -> list[dict]:
        """The records of `service` whose process still runs; the others are forgotten,
        except a claim made less than CLAIM_HOLD ago and not launched yet (a start
        between its claim and its launch: `zerodown status` adopts while a deployment
        starts instances). The registry is written only when that changed it (a record
        dropped, or a pid _recover found), never synced: lost, either is found again.
        Not `tidy` (asked by a controller that does not own the service: agent.py): the
        same answer, nothing written."""
        with self.registry.locked() as entries:
            before = json.dumps(entries, sort_keys=True)
            found = []
            for name, entry in list(entries.items()):
                if entry["service"] != service or self.elsewhere(entry):
                    continue
                if self._live(name, entries):
                    found.append(entry)
                elif not in_flight(entry):
                    del entries[name]  # exited (or its pid went to someone else)
            if tidy and json.dumps(entries, sort_keys=True) != before:
                self.registry.save(entries, sync=False)
        return found

    def versions(self, service: str) -> set[str]:
        """The versions the recorded instances of `service` run — one being started (no pid
        yet) counts: a release prune must keep their folders, their working directories."""
        entries = self.registry.load()
        return {e["version"] for e in entries.values()
                if e.get("service") == service and e.get("version")
                and (not e.get("pid") or (this_boot(e) and running(e["pid"], e.get("start_time"))))}

    def owns_port(self, pid: int, port: int) -> bool:
        """Does the port's listener belong to the instance's session, not a stranger?"""
        return listen_wait.owns_port(pid, port)

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _live(self, name: str, entries: dict) -> bool:
        """Is the recorded instance `name` running (its pid recovered if never written)?"""
        entry = entries.get(name)
        if not entry or self.elsewhere(entry) or not self._recover(name, entry) \
                or not this_boot(entry):
            return False
        return running(entry["pid"], entry["start_time"])

    def _recover(self, name: str, entry: dict) -> bool:
        if entry.get("pid"):
            return True
        pid = find_marked(name, str(self.state_dir))
        if pid is None:
            return False
        entry.update(pid=pid, start_time=start_time(pid), boot=boot_id())
        return entry["start_time"] is not None


def recorded(entries: dict, name: str, pid: int | None = None) -> dict | None:
    """The record of exactly this instance in `entries` (same pid, when given)."""
    entry = entries.get(name)
    if not entry or not entry.get("pid") or not this_boot(entry):
        return None
    if pid is not None and entry["pid"] != pid:
        return None  # a later incarnation in the same slot: not the one asked about
    return entry


def in_flight(entry: dict) -> bool:
    """Is this a claim not launched yet, made less than CLAIM_HOLD ago in this boot?"""
    claimed = entry.get("claimed")
    return (not entry.get("pid") and isinstance(claimed, list) and claimed[0] == boot_id()
            and time.monotonic() - claimed[1] < CLAIM_HOLD)


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


def free_port(taken: Collection[int] = (), host: str = "127.0.0.1") -> int:
    """A port the OS says is free now, and not one in `taken` (the recorded ones)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise RuntimeFailure(f"no free port on {host} after 50 tries")
