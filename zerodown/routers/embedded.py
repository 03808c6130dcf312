"""The `embedded` router: zerodown's own proxy, run as a separate process.

    router = EmbeddedRouter(state_dir, "127.0.0.1:8080")
    router.ensure_running()     # starts `zerodown proxy` unless one already answers
    router.apply(table)         # the whole desired table; applying it twice changes nothing

Everything lives in `state_dir`: the admin socket proxy.sock, the routing
table proxy.json, the log proxy.log and proxy.pid (pid and its kernel start
time, so a restarted controller finds the running proxy and never starts a
second one). The proxy runs in its own session and outlives the controller;
proxy.pid names its supervisor, which restarts the serving process if it dies
(zerodown/proxy/supervisor.py). Admin calls wait (up to PROXY_WAIT) through
such a restart, and start the proxy if nothing runs at all. A serving process
whose supervisor was killed is adopted by the next ensure_running(): a new
supervisor takes it over hitlessly. restart() replaces the processes
hitlessly: the new ones take the listening sockets of the old (see
zerodown/proxy/handover.py).

Shared (`router: {kind: embedded, shared: NAME, hosts: [...], path_prefix: /}`):
state_dir is the shared proxy's, the same for every zerodown.yaml naming it
(embedded_options.shared_dir). The proxy's default service is `shared:NAME` and
stays empty (an unknown host gets 404); this service registers its site with it
(PUT /services/SERVICE) at ensure_running() and before each apply, and every call
addresses /services/SERVICE/... . stop() removes only this service (its backends
drain) and stops the proxy when no other service is left on it. On router.host too:
its state_dir there is the same for every zerodown.yaml naming it (runtime.router_dir).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from zerodown.errors import RouterError, RouterUnavailable
from zerodown.hosts.local import LOCAL
from zerodown.model import RoutingTable
from zerodown.proxy import handover
from zerodown.proxy.client import AdminClient, Unreachable
from zerodown.protocols import Host
from zerodown.routers.common import (await_process, elsewhere, locked, log_tail,
                                     nothing_serves, option_of, process_record, require,
                                     send_files, socket_for)
from zerodown.routers.embedded_found import find_proxy, refusal

READY_TIMEOUT = 15.0   # a new proxy must answer within this
PROXY_WAIT = 15.0      # an admin call waits this long for a proxy that is restarting
RETRY_PAUSE = 0.05
T = TypeVar("T")
STOP_TIMEOUT = 40.0    # SIGTERM lets it drain (its own bound is 30s by default), then SIGKILL


class EmbeddedRouter:
    """Router protocol over the embedded proxy; see the module docstring."""

    def __init__(self, state_dir: str | os.PathLike, listen: str, token: str | None = None, *,
                 service: str = "zerodown", args: Sequence[str] = (), host: Host = LOCAL,
                 metrics_token_env: str | None = None, local_dir: str | os.PathLike | None = None,
                 python: str | None = None, shared: str | None = None,
                 hosts: Sequence[str] = (), path_prefix: str = "/", strip_prefix: bool = True,
                 config_file: str = "",
                 files: dict[str, str] | None = None):
        """`host`: where the proxy runs; `state_dir` is a folder there. On a remote host
        the lock that keeps one controller at a time is in `local_dir` (on this machine),
        and the admin socket is reached through a socket the host forwards."""
        self.host = host  # where the proxy process runs
        self.python = python or host.python
        self.files = files or {}  # {on the host: here}: TLS copies, sent before each start
        self.metrics_token_env = metrics_token_env  # read at each start, handed over in env
        self.state_dir = Path(state_dir) if host.remote else Path(state_dir).resolve()
        self.local_dir = Path(local_dir or state_dir).resolve()
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.host.makedirs(str(self.state_dir))
        self.listen, self.service, self.args = listen, service, list(args)
        self.socket_path = self.state_dir / "proxy.sock"
        self.state_file = self.state_dir / "proxy.json"
        self.pid_file = self.state_dir / "proxy.pid"
        self.log_path = self.state_dir / "proxy.log"
        # refused now where too long (on another host); the proxy binds them through
        # short() itself, and the admin one is also reached so from here
        socket_for(host, self.socket_path, "admin socket path")
        # the proxy also listens beside its state file for its successor (a hitless restart)
        socket_for(host, handover.path_for(str(self.state_file)), "handover socket path")
        self.admin = f"unix:{self.socket_path}"  # where the proxy listens, on its host
        reach = f"unix:{host.unix_path(str(self.socket_path))}"  # from here
        self.shared, self.hosts, self.path_prefix = shared, tuple(hosts), path_prefix
        self.strip_prefix = strip_prefix
        self.config_file = config_file
        self.client = AdminClient(reach, token, service=service if shared else None)
        self._probe = AdminClient(reach, token, timeout=1.0)
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        return f"{'https' if '--tls-cert' in self.args else 'http'}://{self.listen}"

    @property
    def pid(self) -> int | None:
        """The running proxy's pid, or None."""
        found = self._running()
        return found[0] if found else None

    # --- the Router protocol ------------------------------------------------

    def apply(self, table: RoutingTable) -> bool:
        with self._lock:  # never during a handover, when the proxy refuses writes
            if self.shared:  # registered first (again: someone may have removed it by hand)
                self._call(self._register)
            return self._call(lambda: self.client.apply(table))  # idempotent: safe to resend

    def _register(self) -> bool:
        return self.client.register(self.hosts, self.path_prefix, self.config_file,
                                    self.strip_prefix)

    def drained(self, backend_id: str) -> bool:
        with self._lock:  # during a restart the old process may still carry its requests
            return self._call(lambda: self.client.drained(backend_id))

    def unanswered(self, backend_id: str) -> tuple[int, int, int]:
        """(answered, in flight, unanswered) requests of a backend (Router, optional)."""
        with self._lock:
            return self.client.unanswered(backend_id)

    def drain_state(self, backend_ids) -> dict[str, tuple[bool, tuple[int, int, int]]]:
        """{backend: (drained, unanswered)} in one admin call (Router, optional): a drain of
        a batch asks once per look, not once per instance."""
        with self._lock:
            return self._call(lambda: self.client.drain_state(backend_ids))

    def drain_look(self, backend_ids) -> tuple[dict[str, tuple[bool, tuple[int, int, int]]],
                                               RoutingTable]:
        """drain_state() and the table in force in one admin call (Router, optional): a
        drain's last look is the stop's router check (engine/draining.py)."""
        with self._lock:
            return self._call(lambda: self.client.drain_look(backend_ids))

    def stats(self) -> dict:
        return self._call(self.client.stats)

    def shadow(self, settings: dict | None) -> dict | None:
        """Mirror users' requests to a shadow (Router, optional): PUT /shadow with
        `settings` (docs/proxy.md), or stop it (None); the shadow's stats."""
        return self._call(lambda: self.client.shadow(settings))

    def shadow_stats(self) -> dict | None:
        return self._call(self.client.shadow_stats)

    def _call(self, ask: Callable[[], T]) -> T:
        """`ask` the proxy, waiting up to PROXY_WAIT for one that is restarting (its
        supervisor restarts it in milliseconds) or, if none runs at all, starting it."""
        deadline = time.monotonic() + PROXY_WAIT
        while True:
            try:
                return ask()
            except Unreachable as e:
                if time.monotonic() > deadline:
                    raise RouterUnavailable(f"{e}; no proxy answered within {PROXY_WAIT:g}s "
                                            f"(see {self.log_path})") from None
                if self._running() is None:  # supervisor and serving process both gone
                    self.ensure_running()
                time.sleep(RETRY_PAUSE)

    def refresh_tls(self) -> bool:
        """The certificate files changed (tls_refresh.py): on router.host their copies sent
        there first, then SIGHUP to the proxy's supervisor, which has the serving process
        load them again at once (docs/proxy.md: a set that does not load leaves the previous
        one in force). False without TLS or with no proxy running (its start reads them)."""
        if "--tls-cert" not in self.args:
            return False
        with self._locked():  # not while a restart hands the listener over
            send_files(self.host, self.files)
            found = self._running()
            if found is None:
                return False
            self.host.send_signal(found[0], found[1], signal.SIGHUP)
            return True

    def in_force(self) -> RoutingTable:
        """The table the proxy serves now, asked of the proxy itself."""
        return self.client.table()

    # --- the proxy process ----------------------------------------------------

    def preflight(self) -> None:
        """Can the proxy run on its host? Its interpreter with the proxy's modules."""
        require(self.host, [self.python, "-c", "import uvloop, httptools, re2"],
                f"{self.python} with uvloop, httptools and google-re2",
                "install them for it there (pip install uvloop httptools google-re2) or set "
                "router.python to an interpreter that has them")

    def ensure_running(self) -> int | None:
        """Start the proxy unless one answers on the admin socket; its pid once it is ready.
        Shared: and this service registered with it (a conflict raises RouterError)."""
        with self._locked():
            pid = self._ensure()
        if self.shared:
            self._call(self._register)
        return pid

    def _ensure(self) -> int | None:
        """ensure_running() with the lock held."""
        found = self._running()
        if self.answers():
            self._check_listen(found)
            if not self._supervised():  # its supervisor was killed: adopt it, hitlessly
                return self._restart(STOP_TIMEOUT)
            if found and (self._recorded() or {}).get("pid") != found[0]:
                self._record(found[0])  # found by its command line: remember it again
            return found[0] if found else None
        if found:  # alive but silent: maybe still starting
            self._wait_ready(found[0], found[1], time.monotonic() + READY_TIMEOUT)
            return found[0]
        proc = self._spawn("starting")
        self._record(proc.pid)
        self._wait_ready(proc.pid, self.host.start_time(proc.pid),
                         time.monotonic() + READY_TIMEOUT)
        return proc.pid

    def restart(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Replace the proxy process without dropping a connection; the new pid.

        Returns once the old process has exited (it first finishes its in-flight
        requests); apply() and drained() wait for that too, so a drain is never judged
        by the new process alone. If the new one fails, the old one keeps serving.
        """
        with self._locked():
            return self._restart(timeout)

    def _restart(self, timeout: float) -> int | None:
        """restart() with the lock held."""
        old = self._running()
        if old is None:
            return self._ensure()
        offset = self.host.size(str(self.log_path))
        proc = self._spawn("restarting (taking over from pid %d)" % old[0])
        started = self.host.start_time(proc.pid)
        try:
            self._wait_took_over(proc.pid, offset, time.monotonic() + READY_TIMEOUT)
        except RouterError:
            if started is not None:  # a successor stuck half-way must not linger
                self.host.terminate(proc.pid, started, 1.0, "the new proxy")
            raise
        self._record(proc.pid)
        if not self.host.wait_gone(old[0], old[1], timeout):
            raise RouterError(f"the old proxy (pid {old[0]}) still runs {timeout:g}s after "
                              f"handing over to pid {proc.pid}; see {self.log_path}")
        self.host.forget(old[0])
        return proc.pid

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the proxy (it drains, then exits), SIGKILL after `timeout`; idempotent.
        Shared: this service leaves it; the proxy stops only when no other service is left."""
        with self._locked():
            if self.shared:
                others = self._leave()
                self.down_says = (f"took {self.service} off shared proxy {self.shared}" + (
                    f" (it goes on serving {', '.join(others)})" if others else
                    ", and stopped it (no other service on it)"))
                if others:
                    return
            found = self._running()
            if found is not None:
                self.host.terminate(found[0], found[1], timeout, f"proxy for {self.state_dir}")
                self.host.forget(found[0])
                if not self.shared:  # (a shared one's last service said so above)
                    self.down_says = "stopped the proxy"
            elif not hasattr(self, "down_says"):  # (down stops twice: the first one tells)
                self.down_says = "the proxy was not running"
            self.host.remove(str(self.pid_file))

    def _leave(self) -> list[str]:
        """Take this service off the shared proxy; the services still on it."""
        if self.answers():
            return self.client.unregister()
        saved = f"{self.state_dir}/proxy.services"  # not running: its saved state is the truth
        self.host.remove(f"{saved}/{self.service}.json")
        code, out = self.host.run(["find", saved, "-maxdepth", "1", "-name", "*.json"], 30.0)
        if code is None:
            raise RouterError(f"cannot list the services left on shared proxy {self.shared} "
                              f"({saved} on {self.host.name}): {out.strip()[:200]}")
        return sorted(os.path.basename(p)[:-5] for p in out.split())

    def _supervised(self) -> bool:
        """Does a supervisor watch the proxy that answers? (True if it cannot be told.)"""
        try:
            return self._probe.health().get("supervisor") is not None
        except RouterError:
            return True

    def answers(self) -> bool:
        """Does a proxy answer GET /healthz on the admin socket?"""
        try:
            return self._probe.request("GET", "/healthz")[0] == 200
        except RouterError:
            return False

    # --- helpers -------------------------------------------------------------

    def _metrics_env(self) -> dict[str, str]:
        """The metrics listener's token, from the controller's variable, in the proxy's
        environment (not its command line, which anyone may read)."""
        name = self.metrics_token_env
        if name is None:
            return {}
        token = os.environ.get(name)
        if not token:
            raise RouterError(f"router.metrics_token_env: ${name} is not set in the "
                              "controller's environment (the metrics listener's bearer token)")
        return {"ZERODOWN_METRICS_TOKEN": token}

    def argv(self) -> list[str]:
        return [self.python, "-m", "zerodown", "proxy", "--listen", self.listen,
                "--admin", self.admin, "--state", str(self.state_file),
                "--service", f"shared:{self.shared}" if self.shared else self.service, *self.args]

    def _spawn(self, why: str):
        # the child runs the same zerodown as this controller, wherever it was imported from
        # (on another host: uploaded there), with only what it needs of this environment there
        send_files(self.host, self.files)
        root = self.host.code_root()
        if self.host.remote:
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": root}
        else:
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            env = {**os.environ, "PYTHONPATH": path}
        try:
            return self.host.spawn(self.argv(), cwd=str(self.state_dir),
                                   env={**env, **self._metrics_env()},
                                   log_path=self.log_path,
                                   banner=f"{why}: {' '.join(self.argv())}")
        except OSError as e:
            raise RouterError(f"cannot start the proxy ({self.python} on {self.host.name}): "
                              f"{e.strerror or e}") from None

    def _record(self, pid: int) -> None:
        self.host.write_text(str(self.pid_file), json.dumps({
            "pid": pid, "start_time": self.host.start_time(pid), "listen": self.listen,
            "admin": self.admin, "argv": self.argv(), "started_at": time.time()}) + "\n")

    def _recorded(self) -> dict | None:
        rec = process_record(self.host.read_text(str(self.pid_file)))
        argv = rec.get("argv") if rec else None
        state = option_of(argv, "--state") if isinstance(argv, list) else None
        return None if elsewhere(state, str(self.state_file), self.host) else rec

    def _running(self) -> tuple[int, int] | None:
        """(pid, start time) of the proxy serving this state directory, if one runs."""
        rec = self._recorded()
        if rec and self.host.running(rec["pid"], rec["start_time"]):
            return rec["pid"], rec["start_time"]
        return find_proxy(str(self.state_file), self.host)  # e.g. a controller died mid-restart

    def _started_with(self, found: tuple[int, int] | None) -> list[str] | None:
        """The command line of the proxy that answers: its record's when the record is of
        that process, else read off the process (a record lost, or left by an earlier one)."""
        rec = self._recorded()
        if rec and isinstance(rec.get("argv"), list) and (found is None or rec["pid"] == found[0]):
            return rec["argv"]
        return next((args for pid, args in self.host.processes() if pid == found[0]),
                    None) if found else None

    def _check_listen(self, found: tuple[int, int] | None) -> None:
        argv = self._started_with(found)
        who = f"shared proxy {self.shared}" if self.shared else \
            f"the proxy of {self.state_dir}" + (f" (pid {found[0]})" if found else "")
        refused = refusal(argv, self.argv(), who, bool(self.shared)) if argv else None
        if refused is not None:
            raise refused

    def _wait_ready(self, pid: int, started: int | None, deadline: float) -> None:
        await_process(self.answers, pid, started, deadline, "the proxy",
                      f"did not answer on {self.admin}", self.log_path,
                      f"before it was ready (admin {self.admin}): {nothing_serves(self.listen)}",
                      self.host)

    def _wait_took_over(self, pid: int, offset: int, deadline: float) -> None:
        mark = f"pid={pid} ".encode()  # its "ready" line

        def took_over() -> bool:
            text = (self.host.read_text(str(self.log_path), offset) or "").encode()
            return any(b"zerodown proxy ready" in line and mark in line
                       for line in text.splitlines())
        await_process(took_over, pid, self.host.start_time(pid), deadline, "the new proxy",
                      "did not take over", self.log_path,
                      "before taking over; the old one keeps serving", self.host)

    def _tail(self) -> str:
        return log_tail(self.log_path, host=self.host)

    def _locked(self):
        """One controller at a time starts, restarts or stops this proxy (threads and processes)."""
        return locked(self._lock, self.local_dir / "proxy.lock")

