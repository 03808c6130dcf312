"""The HAProxy a managed haproxy router runs: its master found again by pid and start
time, its configuration checked, hitless reloads that keep counting, and waiting on it.

HAProxyProcess is HAProxyRouter's base class (haproxy.py): one router, its process
part in a file of its own. Its methods read what the router sets up (host, binary,
paths, the stats and master sockets) and call its state (_load, _save, _locked).
Every look asks the Host HAProxy runs on (this machine, or router.host over SSH).
"""

from __future__ import annotations

import json
import os
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from zerodown.errors import RouterError
from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host
from zerodown.routers import haproxy_runtime_api as runtime_api
from zerodown.routers import haproxy_stats
from zerodown.routers.common import (await_process, elsewhere, left_serving, log_tail,
                                     process_record, require)
from zerodown.routers.haproxy_cli import CommandSocket, parse_proc
from zerodown.routers.haproxy_state import State

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 40.0
OLD_WORKER_WAIT = 1.0  # how long a reload follows the old worker's counters as it drains


class HAProxyProcess:
    # Set and defined by HAProxyRouter (haproxy.py), declared here for the type checker.
    host: Host
    binary: str
    listen: str
    attach_backend: str | None
    state_dir: Path
    config_path: Path
    state_file: Path
    pid_file: Path
    log_path: Path
    cli: CommandSocket
    master: CommandSocket

    if TYPE_CHECKING:
        def answers(self) -> bool: ...
        def _load(self) -> State: ...
        def _save(self, state: State) -> None: ...
        def _locked(self) -> AbstractContextManager[None]: ...

    def preflight(self) -> None:
        """Can HAProxy run on its host? Its binary there."""
        require(self.host, [self.binary, "-v"], f"no {self.binary} there",
                "install it (apt-get install haproxy) or set router.binary")

    def _reload(self, state: State) -> None:
        """A new worker on the new configuration; the old one finishes its requests."""
        self._check_config(running=True)
        before, _ = parse_proc(self.master.raw("show proc"))
        # The new worker counts from zero: what the old ones counted goes to `retired`,
        # read until they exit (only the last response on each closing connection escapes).
        last: dict[int, list[dict[str, str]]] = {}

        def read_old() -> None:
            for pid in before:
                if rows := runtime_api.parse_stat(self._master_ask(f"@!{pid} show stat")):
                    last[pid] = rows

        read_old()  # the master is deaf while it re-executes: read them once before
        # old workers from now on, until they exit: drains ask them too (durable first)
        state.old_workers = sorted(set(state.old_workers) | set(before))
        self._save(state)
        self.master.raw("reload")
        found = self._running()
        if found is None:
            raise RouterError(f"HAProxy for {self.state_dir} is not running; cannot reload it")

        def reloaded() -> bool:
            try:
                current, _ = parse_proc(self.master.raw("show proc"))
            except RouterError:
                return False  # the master re-executes itself: its CLI is back in a moment
            read_old()
            return bool(current) and not set(current) & set(before) and self.answers()
        self._wait(reloaded, found, "did not finish reloading")
        deadline = time.monotonic() + OLD_WORKER_WAIT
        while True:
            listed = self._master_ask("show proc")
            old = set(parse_proc(listed)[1])
            if not old & set(before) or time.monotonic() >= deadline:
                break
            read_old()
            time.sleep(self.host.poll)
        if listed:  # a master that did not answer lists none: keep them all
            state.old_workers = sorted(old & set(state.old_workers))
        for row in haproxy_stats.server_rows([r for rows in last.values() for r in rows]):
            owner = state.owners.get(row["svname"])
            if owner is not None:
                haproxy_stats.add(state.retired.setdefault(owner[0], {}),
                                  haproxy_stats.counters(row))
        state.running_shape = state.layout.shape if state.layout else None
        self._save(state)

    def _master_ask(self, command: str) -> str:
        try:
            return self.master.raw(command)
        except RouterError:
            return ""  # e.g. the old worker exited meanwhile

    def _check_config(self, running: bool) -> None:
        """`haproxy -c` on the files written; `running`: whether an HAProxy serves (a
        reload's), which a rejection leaves as it was, or none does (a start's)."""
        code, output = self.host.run([self.binary, "-c", "-q", "-f", str(self.config_path)], 30)
        if code is None:
            raise RouterError(f"cannot run HAProxy ({self.binary}) on {self.host.name}: "
                              f"{output}; install it (apt-get install haproxy) or set "
                              f"router.binary")
        if code != 0:
            raise RouterError(f"HAProxy rejects the generated {self.config_path}; "
                              f"{left_serving(running, 'HAProxy', self.listen)} (what it "
                              f"said names what to fix):\n{output.strip()}")

    def _record(self, pid: int) -> None:
        self.host.write_text(str(self.pid_file), json.dumps({
            "pid": pid, "start_time": self.host.start_time(pid), "listen": self.listen,
            "config": str(self.config_path), "started_at": time.time()}) + "\n")

    def _running(self) -> tuple[int, int] | None:
        """(pid, start time) of the HAProxy master serving this state directory, if one runs."""
        if self.attach_backend is not None:
            return None
        rec = process_record(self.host.read_text(str(self.pid_file)))
        if rec and elsewhere(rec.get("config"), str(self.config_path), self.host):
            rec = None  # a copy's record of another directory's HAProxy: not ours
        if rec and self.host.running(rec.get("pid"), rec.get("start_time")):
            return rec["pid"], rec["start_time"]
        return find_master(str(self.config_path), self.host)

    def _wait(self, done, found: tuple[int, int | None], late: str, died: str = "") -> None:
        await_process(done, *found, time.monotonic() + READY_TIMEOUT, "HAProxy", late,
                      self.log_path, died, host=self.host)

    def _tail(self) -> str:
        return log_tail(self.log_path, host=self.host)


def find_master(config_path: str, host: Host = LOCAL) -> tuple[int, int] | None:
    """The master of `haproxy ... -f config_path`: the matching process whose parent is not one."""
    found = {pid for pid, args in host.processes()
             if "-f" in args and args.index("-f") + 1 < len(args)
             and os.path.abspath(args[args.index("-f") + 1]) == config_path
             and "haproxy" in os.path.basename(args[0])}
    for pid in found:
        if host.parent_of(pid) not in found and (started := host.start_time(pid)) is not None:
            return pid, started
    return None
