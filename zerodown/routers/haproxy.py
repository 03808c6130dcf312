"""The `haproxy` router: a real HAProxy (2.6+) made to match the routing table.

    router = HAProxyRouter(state_dir, "127.0.0.1:8080", service="shop")
    router.ensure_running()     # starts `haproxy -W -S master.sock -f haproxy.cfg` unless running
    router.apply(table)         # through the Runtime API; the same table twice changes nothing

Managed mode (the default): zerodown writes haproxy.cfg, the maps and its state
into `state_dir` and runs HAProxy in master-worker mode in its own session, so
it outlives the controller (haproxy.pid holds the master's pid and start time;
a restarted controller finds it again). How a table becomes HAProxy
configuration and maps is in haproxy_render.py, the files written and when in
haproxy_files.py, and Runtime API commands in haproxy_runtime_api.py: servers
come and go with `add server` / `set server ... state maint` / `del server`
(once drained), weights and rules live in maps swapped whole (`prepare map` /
`commit map`). Only a change of shape (more lanes than the configuration has,
the header or cookie a rule line reads, the sticky mode, the health check)
rewrites haproxy.cfg and reloads hitlessly through the master CLI: the new
worker takes the listening sockets (`expose-fd listeners`), the old one
finishes its requests (haproxy_process.py). HAProxy 2.6 closes the old
worker's *idle* keep-alive connections on a reload, so a client that sends on
one at that instant sees it closed unanswered, as with any server closing an
idle connection: clients that retry an idempotent request once (browsers,
urllib3, our loadgen with retry_idempotent_once) lose nothing. Table changes
that keep the shape never reload.

The table in force is in haproxy.json (written atomically before it is acted
on), with which revision owns each server and the counters of servers gone, so
stats() keeps counting across deletions and reloads (haproxy_state.py). The
options it takes: haproxy_options.py.

What differs from the embedded proxy:
- stats: HAProxy keeps an average response time, not a histogram: latency
  percentiles are None, the mean is an estimate. A reload starts a worker
  counting from zero; the old worker's counts are read before and while it
  drains, but requests it answers while the master re-executes itself (a
  fraction of a second) may go uncounted.
- sticky "cookie": the cookie holds the user's point in basis points (0..9999).
- a header rule reads the last header of that name, the embedded proxy any.
- backend weights above 256 are scaled down to HAProxy's range, ratios kept.
- passive health (with the table's health_check): `fall` connection failures in a row
  on users' requests take a server down until its active checks pass (`observe
  layer4`); the proxy ejects at the first, for a while, and also at a response timeout,
  which HAProxy leaves to the active checks (haproxy_render.check_options).

Attach mode (`router: {kind: haproxy, socket: PATH, backend: NAME}`): drive an
existing HAProxy through its stats socket, starting nothing: see
haproxy_attach.py for what it needs and does.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from zerodown.errors import RouterError
from zerodown.hosts.local import LOCAL
from zerodown.model import Backend, RoutingTable
from zerodown.protocols import Host
from zerodown.routers.common import locked, nothing_serves, socket_for
from zerodown.routers import haproxy_attach as attach
from zerodown.routers import haproxy_files
from zerodown.routers import haproxy_render as render
from zerodown.routers import haproxy_runtime_api as runtime_api
from zerodown.routers import haproxy_stats
from zerodown.routers.haproxy_cli import CommandSocket, checked
from zerodown.routers.haproxy_options import parse_options
from zerodown.routers.haproxy_observe import HAProxyObserver
from zerodown.routers.haproxy_process import STOP_TIMEOUT
from zerodown.routers.haproxy_state import State, dumps, loads, own
from zerodown.table_version import check_newer
from zerodown.tls_config import TlsSettings


class HAProxyRouter(HAProxyObserver):
    """Router protocol over HAProxy; see the module docstring. Its process, started,
    found, reloaded: haproxy_process.HAProxyProcess; what it reads of HAProxy (drained,
    stats): haproxy_observe.HAProxyObserver."""

    def __init__(self, state_dir: str | os.PathLike, listen: str, *, service: str = "zerodown",
                 options: dict[str, Any] | None = None, config_file: str | None = None,
                 reserve: render.Shape | None = None, host: Host = LOCAL,
                 tls: TlsSettings | None = None, local_dir: str | os.PathLike | None = None):
        """`reserve`: rule sources and stickiness the service's strategy will ask for,
        built into HAProxy's configuration from the start so deployments need no reload.
        `host`: where HAProxy runs, `state_dir` a folder there (its files); `local_dir`:
        this machine's (the writers' lock). `tls`: the frontend speaks https (haproxy_tls.py)."""
        self.host = host
        opts = parse_options(options or {}, config_file)
        self.reserve = reserve
        self.state_dir = Path(state_dir) if host.remote else Path(state_dir).resolve()
        self.local_dir = Path(local_dir or state_dir).resolve()
        self.local_dir.mkdir(parents=True, exist_ok=True)
        host.makedirs(str(self.state_dir))
        self.listen, self.service = listen, service
        self.attach_backend: str | None = opts.get("backend")
        self.lanes, self.binary = opts["lanes"], opts.get("binary", "haproxy")
        self.config_path = self.state_dir / haproxy_files.CONFIG
        self.state_file = self.state_dir / haproxy_files.STATE
        self.pid_file = self.state_dir / "haproxy.pid"
        self.log_path = self.state_dir / "haproxy.log"
        # HAProxy binds `<path>.<pid>.tmp`, then renames it (widest pid: pid_max 2^22);
        # attached, the user's HAProxy bound its socket: only connected to
        binds_as = ".4194304.tmp" if self.attach_backend is None else ""
        stats_path = Path(socket_for(host, opts.get("socket") or self.state_dir / "haproxy.sock",
                                     "stats socket path", binds_as))
        master_path = Path(socket_for(host, self.state_dir / "master.sock", "master CLI path",
                                      binds_as))
        self.cli = CommandSocket(str(stats_path), "stats socket", host=host)
        self.master = CommandSocket(str(master_path), "master CLI", host=host)
        timeouts = {name: opts[key] for key, name in (("response_timeout", "timeout_server"),
                                                      ("connect_timeout", "timeout_connect"),
                                                      ("queue_timeout", "timeout_queue"),
                                                      ("max_conns_per_backend", "maxconn"))
                    if key in opts}
        self.settings = render.Settings(service, listen, str(self.state_dir), str(stats_path),
                                        tls=tls, **timeouts)
        self._lock = threading.RLock()
        self._collector: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.settings.tls else 'http'}://{self.listen}"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def pid(self) -> int | None:
        """The HAProxy master's pid, or None (attach mode: never ours)."""
        found = self._running()
        return found[0] if found else None

    @property
    def down_says(self) -> str:
        """What stop() did, for `zerodown down`."""
        if self.attach_backend is None:
            return "stopped HAProxy"
        return f"took zerodown's servers out of HAProxy backend {self.attach_backend}"

    def answers(self) -> bool:
        return self.cli.answers()

    # --- the Router protocol ------------------------------------------------

    def apply(self, table: RoutingTable) -> bool:
        with self._locked():
            state = self._load()
            check_newer(table, state.table)
            target = _resolved(table)
            changed = table != state.table
            if self.attach_backend is not None:
                return self._apply_attached(table, target, state) or changed
            layout = render.plan_layout(target, state.layout, self.lanes, self.reserve)
            own(state, table)
            state.table, state.layout = table, layout
            reload = state.running_shape != layout.shape
            files = haproxy_files.held_back(haproxy_files.texts(self.settings, layout, target),
                                            self.settings, state)
            queries = [] if reload else self._queries(render.map_files(target, layout))
            answers = self._write_and_ask(state, files, queries)
            if reload:
                self._reload(state)
                return True
            did = self._converge(target, layout, state, dict(zip(queries, answers)))
            return changed or did

    def table(self) -> RoutingTable:
        """The table in force (haproxy.json, written before each change is acted on)."""
        return self._load().table

    in_force = table  # the Router protocol's name

    def refresh_tls(self) -> bool:
        """The certificate files changed (tls_refresh.py): every copy written anew and
        handed to the running HAProxy through its Runtime API (`set ssl cert` + `commit`),
        as apply does with a renewal: new handshakes get them, no reload. All of them, not
        only those whose digest moved: a copy written whose commit was lost is sent again.
        False with no `tls:`, attached, or no HAProxy running (its start reads them)."""
        if self.settings.tls is None or self.attach_backend is not None:
            return False
        with self._locked():
            if self._running() is None:
                return False
            pems = haproxy_files.pems(self.settings)
            self.host.batch(haproxy_files.writes(self._load(), pems, self.state_dir,
                                                 every=True))
            self.cli.run_all(haproxy_files.renew_commands(self.state_dir, pems))
            return True

    # --- the HAProxy process (managed mode) -------------------------------------

    def ensure_running(self) -> int | None:
        """Start HAProxy unless it runs and answers; the master's pid once it is ready."""
        if self.attach_backend is not None:
            if not self.answers():
                raise RouterError(f"no HAProxy answers on {self.cli.path} (router.socket)")
            with self._locked():
                state = self._load()
                attach.reconcile(self, state)
                self._save(state)
            return None
        with self._locked():
            found = self._running()
            if found and self.answers():
                return found[0]
            if found:  # alive but silent: maybe still starting
                self._wait(lambda: self.answers(), found, "did not answer on its stats socket")
                return found[0]
            state = self._load()
            target = _resolved(state.table)
            layout = state.layout or render.plan_layout(target, None, self.lanes, self.reserve)
            self._write_files(target, layout, state)
            self._check_config(running=False)
            argv = [self.binary, "-W", "-S", self.master.path, "-f", str(self.config_path)]
            try:
                env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"} \
                    if self.host.remote else dict(os.environ)  # not this machine's there
                proc = self.host.spawn(argv, cwd=str(self.state_dir), env=env,
                                       log_path=self.log_path,
                                       banner=f"starting: {' '.join(argv)}")
            except OSError as e:
                raise RouterError(f"cannot start HAProxy ({self.binary}): "
                                  f"{e.strerror or e}; install it (apt-get install haproxy) "
                                  f"or set router.binary") from None
            self._record(proc.pid)
            started = (proc.pid, self.host.start_time(proc.pid))
            self._wait(lambda: self.answers() and self.master.answers(), started, "did not start",
                       f"before it served: {nothing_serves(self.listen)}")
            state.layout, state.running_shape = layout, layout.shape
            self._save(state)
            return proc.pid

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Soft-stop HAProxy (SIGUSR1: workers finish their requests), SIGKILL after `timeout`.
        Attach mode: the user's HAProxy runs on; zerodown's servers leave its backend."""
        if self.attach_backend is not None:
            if not self.answers():
                return  # their HAProxy does not run: nothing of ours is in rotation
            with self._locked():
                state = self._load()
                left = attach.withdraw(self, state, timeout)
                self._save(state)
            if left:
                raise RouterError(f"servers {', '.join(left)} of backend {self.attach_backend} "
                                  f"still had requests in flight after {timeout:g}s; they are "
                                  f"in maintenance (no new request) and go at the next start")
            return
        with self._locked():
            found = self._running()
            if found is not None:
                self.host.send_signal(found[0], found[1], signal.SIGUSR1)
                self.host.wait_gone(*found, timeout)
                self.host.terminate(found[0], found[1], 1.0, f"HAProxy for {self.state_dir}")
                self.host.forget(found[0])
            self.host.remove(str(self.pid_file))

    # --- applying ------------------------------------------------------------------

    def _queries(self, map_files: dict) -> list[str]:
        """What _converge() reads of HAProxy, asked with the files' writing: its servers, its
        maps, and a new version of each map (allocating one changes nothing until commit)."""
        maps = [str(self.state_dir / name) for name in map_files]
        return ["show servers state", *(f"show map {m}" for m in maps),
                *(f"prepare map {m}" for m in maps)]

    def _write_and_ask(self, state: State, files: dict[str, str], queries: list[str]
                       ) -> list[str]:
        """One call to HAProxy's host (over SSH one round trip): the state saved (durable
        before it is acted on), the files whose text changed since they were last written,
        the state again with their digests, whether HAProxy answers, then `queries`."""
        renewed = haproxy_files.renewed(state, files)
        calls = haproxy_files.writes(state, files, self.state_dir)
        calls.append(("ask_unix", [self.cli.path, "show info\n", self.cli.timeout]))
        if queries:
            calls.append(self.cli.batch_call(queries))
        try:
            with self.cli.talking():
                results = self.host.batch(calls)
        except RouterError:
            if not self.answers():
                raise RouterError(f"HAProxy for {self.state_dir} does not answer on "
                                  f"{self.cli.path}; start it first (zerodown up)") from None
            raise
        if "Name: HAProxy" not in results[len(calls) - 1 - bool(queries)]:
            raise RouterError(f"HAProxy for {self.state_dir} does not answer on "
                              f"{self.cli.path}; start it first (zerodown up)")
        if renewed:
            self.cli.run_all(haproxy_files.renew_commands(self.state_dir, renewed))
        return self.cli.checked_all(queries, results[-1]) if queries else []

    def _converge(self, target: RoutingTable, layout: render.Layout, state: State,
                  read: dict[str, str]) -> bool:
        """Runtime API commands from what HAProxy has (`read`: the answers to _queries())
        to what `target` asks, sent in one call; True if any."""
        live = runtime_api.parse_servers_state(read["show servers state"])
        files = render.map_files(target, layout)
        live_maps = {f: runtime_api.parse_map(read[f"show map {self.state_dir / f}"])
                     for f in files}
        plan = runtime_api.plan_runtime(target, layout, live, live_maps, self.settings.maxconn)
        commands = list(plan.before)
        for name, entries in plan.maps:
            path = str(self.state_dir / name)
            version = read[f"prepare map {path}"].rsplit(":", 1)[-1].strip()
            commands += runtime_api.map_commands(path, version, entries)
            commands.append(f"commit map @{version} {path}")
        commands += plan.after
        rows = runtime_api.parse_stat(self.cli.run_all([*commands, "show stat"])[-1])
        if self._collect(target, layout, state, live, rows):
            self._save(state)
        return not plan.empty()

    def _collect(self, target: RoutingTable, layout: render.Layout, state: State,
                 live: list[runtime_api.LiveServer], rows: list[dict[str, str]]) -> bool:
        """Delete servers that left and drained (`rows`: `show stat` after the changes),
        keeping their counters in `retired`; True if any went."""
        by_server = {(render.lane_index(r["pxname"]), r["svname"]): r
                     for r in haproxy_stats.server_rows(rows)}
        busy = {k: haproxy_stats.busy(r) for k, r in by_server.items()}
        gone = [(lane, name) for lane, name in runtime_api.deletable(live, target, layout, busy)
                if (lane, name) in by_server]
        commands = [f"del server {render.lane_backend(lane)}/{name}" for lane, name in gone]
        if not commands:
            return False
        with self.cli.talking():
            answers = self.host.ask_unix_many(*self.cli.batch_call(commands, stop=False)[1])
        deleted = False
        for (lane, name), command, answer in zip(gone, commands, answers):
            try:
                checked(command, answer)
            except RouterError:
                continue  # e.g. idle connections still attached: try again next time
            deleted = True
            owner = state.owners.get(name)
            if owner is not None:
                haproxy_stats.add(state.retired.setdefault(owner[0], {}),
                                  haproxy_stats.counters(by_server[(lane, name)]))
        return deleted

    def _apply_attached(self, table: RoutingTable, target: RoutingTable, state: State) -> bool:
        """Attach mode: the table's backends as weighted servers of one existing backend."""
        own(state, table)
        state.table = table
        self._save(state)  # durable before it is acted on
        try:
            return attach.apply(self, table, target, state)
        finally:
            self._save(state)  # the counters of servers deleted meanwhile

    # --- files and state ------------------------------------------------------------

    def _write_files(self, target: RoutingTable, layout: render.Layout, state: State) -> None:
        """Every file written whole (before a start), in one call."""
        files = haproxy_files.texts(self.settings, layout, target)
        self.host.batch(haproxy_files.writes(state, files, self.state_dir, every=True))

    def _load(self) -> State:
        return loads(self.host.read_text(str(self.state_file)), str(self.state_file))

    def _save(self, state: State) -> None:
        self.host.write_text(str(self.state_file), dumps(state))

    def _locked(self):
        """One controller at a time changes this HAProxy (threads and processes)."""
        return locked(self._lock, self.local_dir / "haproxy.lock")


def _resolved(table: RoutingTable) -> RoutingTable:
    """The table with host names replaced by IPv4 addresses (HAProxy reports servers by IP)."""
    def ip(address: str) -> str:
        host, port = address.rsplit(":", 1)
        try:
            socket.inet_aton(host)
            return address
        except OSError:
            pass
        try:
            return f"{socket.gethostbyname(host)}:{port}"
        except OSError as e:
            raise RouterError(f"cannot resolve backend address {address}: {e}") from None
    return replace(table, revisions=tuple(
        replace(r, backends=tuple(Backend(b.id, ip(b.address), b.weight) for b in r.backends))
        for r in table.revisions))
