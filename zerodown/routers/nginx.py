"""The `nginx` router: a real nginx made to match a routing table, by config and reload.

    router = NginxRouter(state_dir, "127.0.0.1:8080", service="shop")
    router.ensure_running()     # managed mode: starts its own master unless one runs
    router.apply(table)         # render, write, `nginx -t`, SIGHUP, wait for the new workers

Managed mode (default): state_dir holds nginx.conf, nginx.pid, error.log,
access.log and temp/; the master (`nginx -p state_dir -c nginx.conf`, daemon
on, as the controller's user) outlives the controller, which finds it again
by its pid file. Attach mode (options config + pid_file, see nginx_options.py)
writes only the include file and reloads the user's master; it never starts
or stops that master. The include file is created (answering 503) by the first
ensure_running, so the user's nginx can start before anything is deployed.

The routing table in force travels inside the config text (nginx_render.Meta),
so table() reads what nginx was last told. A change of version alone rewrites
the file without a reload: every reload closes idle client keep-alive
connections, the one failure a reload causes (see benchmarks/nginx_reload.py).
Drain: nginx counts nothing per backend, so a backend removed by a reload is
drained once every worker that ran before that reload has exited (old workers
finish their requests, bounded by worker_shutdown_timeout). Those workers are
written to nginx-drains.json before the reload, so a restarted controller
still knows.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import threading
import time
from pathlib import Path

from zerodown.errors import RouterError
from zerodown.hosts.local import LOCAL
from zerodown.model import EMPTY_TABLE, RoutingTable
from zerodown.protocols import Host
from zerodown.table_version import check_newer
from zerodown.tls_config import TlsSettings
from zerodown.routers.common import (left_serving, locked, log_tail, socket_for,
                                      require, send_files, start_failure)
from zerodown.routers import nginx_process as procs
from zerodown.shadow import comparing
from zerodown.routers.nginx_options import NginxOptions, parse_options
from zerodown.routers.nginx_render import read_meta, render_http, render_main, routing_text
from zerodown.routers.nginx_shadow import NginxShadow
from zerodown.routers.nginx_stats import AccessLog, stats_dict

READY_TIMEOUT = 15.0   # a started master, or a reload, must show its workers within this
TEST_TIMEOUT = 30.0    # `nginx -t`
STOP_TIMEOUT = 40.0    # SIGQUIT lets workers finish (worker_shutdown_timeout), then SIGKILL
RELOAD_POLL = 0.005    # a reload takes ~100 ms (nginx's master waits that long): look often


class NginxRouter(NginxShadow):
    """Router protocol over nginx; see the module docstring. A shadow's mirror:
    nginx_shadow.NginxShadow."""

    def __init__(self, state_dir: str | os.PathLike, listen: str, *, service: str = "zerodown",
                 options: NginxOptions | dict | None = None, host: Host = LOCAL,
                 tls: TlsSettings | None = None, local_dir: str | os.PathLike | None = None,
                 files: dict[str, str] | None = None):
        """`host`: where nginx runs, `state_dir` a folder there; `local_dir`: this
        machine's (the writers' lock)."""
        self.host = host  # where nginx runs
        self.tls = tls  # the server speaks https (nginx_render._servers_tls)
        self.files = files or {}  # {on the host: here}: TLS copies, sent before each test
        self.state_dir = Path(state_dir) if host.remote else Path(state_dir).resolve()
        self.local_dir = Path(local_dir or state_dir).resolve()
        self.local_dir.mkdir(parents=True, exist_ok=True)
        host.makedirs(str(self.state_dir))
        self.listen, self.service = listen, service
        self.options = options if isinstance(options, NginxOptions) else \
            parse_options(options or {})
        o = self.options
        self.conf_path = (Path(o.config) if host.remote else Path(o.config).resolve()) \
            if o.config else self.state_dir / "nginx.conf"
        self.pid_file = Path(o.pid_file) if o.pid_file else self.state_dir / "nginx.pid"
        self.error_log = self.state_dir / "error.log"
        # a shadow step's comparator listens there: refused now, not mid-deployment
        socket_for(host, self.state_dir / comparing.ADMIN, "shadow comparator socket path")
        self.log_path = self.error_log  # nginx's own log: what `zerodown logs proxy` reads there
        self.access_log = self.state_dir / "access.log"
        self.drains_file = self.state_dir / "nginx-drains.json"
        self._log = AccessLog(str(self.access_log), host=host)
        self._user: str | None = None
        self._addresses: dict[str, tuple[str, str]] = {}  # address -> (backend id, revision)
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.listen}"

    @property
    def down_says(self) -> str:
        """What stop() did, for `zerodown down`."""
        if self.options.attached:
            return f"emptied zerodown's routes in your nginx ({self.listen} answers 503)"
        return "stopped nginx"

    @property
    def pid(self) -> int | None:
        """The running master's pid, or None."""
        master = self._master()
        return master.pid if master else None

    def answers(self) -> bool:
        return self._master() is not None

    # --- the Router protocol ------------------------------------------------

    def apply(self, table: RoutingTable) -> bool:
        with self._locked():
            old_text = self._read_conf()
            current = self._table_of(old_text)
            if table == current:
                return False
            check_newer(table, current)
            return self._put(table, current, old_text)

    def _put(self, table: RoutingTable, current: RoutingTable, old_text: str) -> bool:
        """Render `table` in place of `current` (the text `old_text`); reload if it routes
        otherwise."""
        master = self._master()
        if master is None:
            raise RouterError(f"nginx is not running (no master by {self.pid_file}); "
                              f"start it first (ensure_running)")
        text = self._render(table)
        if routing_text(text) == routing_text(old_text):
            self.host.write_text(str(self.conf_path), text)  # a new version, the same routing
            return True
        self._write_tested(text, old_text, running=True)
        removed = set(current.backends()) - set(table.backends())
        self._reload(master, removed, old_text)
        self._remember(table)
        return True

    def drained(self, backend_id: str) -> bool:
        with self._lock:
            return self._drained(self.table(), backend_id)

    def drain_look(self, backend_ids) -> tuple[dict[str, tuple[bool, None]], RoutingTable]:
        """{backend: (drained, None)} and the table in force, from one look (Router,
        optional): a drain's last look is the stop's router check (engine/draining.py)."""
        with self._lock:
            table = self.table()
            return {b: (self._drained(table, b), None) for b in backend_ids}, table

    def _drained(self, table: RoutingTable, backend_id: str) -> bool:
        if backend_id in table.backends():
            return False
        drains = self._drains()
        holders = drains.get(backend_id)
        if holders is None:
            return True  # never seen, or already found drained
        if any(procs.alive(key, self.host) for key in holders):
            return False
        del drains[backend_id]
        self.host.write_text(str(self.drains_file), json.dumps(drains) + "\n")
        return True

    def stats(self) -> dict:
        with self._lock:
            table = self.table()
            self._remember(table)
            self._log.read()
            weights = {r.name: r.weight for r in table.revisions}
            return stats_dict(self._log, self.service, table.version, weights, self._addresses)

    def refresh_tls(self) -> bool:
        """The certificate files changed (tls_refresh.py): on router.host their copies sent
        there, `nginx -t` (a refusal leaves the running workers on the old ones), then a
        reload (SIGHUP, the new workers up): nginx reads certificate files only then. Its
        cost is any reload's: idle keep-alive connections closed. False without `tls:` or
        with no master running (its start reads them)."""
        if self.tls is None:
            return False
        with self._locked():
            master = self._master()
            send_files(self.host, self.files)
            if master is None:
                return False
            self._nginx("-t", "-q", timeout=TEST_TIMEOUT, failed="nginx refused the renewed "
                        f"certificates; {left_serving(True, 'nginx', self.listen)}")
            text = self._read_conf()
            self._reload(master, set(), text)
            return True

    def table(self) -> RoutingTable:
        """The routing table in force: the one inside the config nginx was last given."""
        return self._table_of(self._read_conf())

    in_force = table  # the Router protocol's name

    # --- the nginx process ------------------------------------------------------

    def preflight(self) -> None:
        """Can nginx run on its host? Its binary there."""
        require(self.host, [self.options.nginx, "-v"], f"no {self.options.nginx} there",
                "install it (apt-get install nginx-light) or set router.nginx")

    def ensure_running(self) -> int:
        """The master's pid; in managed mode start one (with the table in force) if none runs."""
        with self._locked():
            if self.options.attached:
                self._ensure_include()
            master = self._master()
            if master is not None:
                return master.pid
            if self.options.attached:
                raise RouterError(f"no nginx master runs by {self.pid_file} (router.pid_file); "
                                  f"in attach mode zerodown reloads your nginx but never starts "
                                  f"it: start nginx, with `include {self.conf_path};` in its "
                                  f"http block (that file is ready: until a version is deployed "
                                  f"it answers 503 on {self.listen})")
            text = self._render(self.table())
            self._write_tested(text, self._read_conf(), running=False)
            return self._start().pid

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Managed mode: SIGQUIT (workers finish their requests), SIGKILL after `timeout`.
        Attach mode: the master is the user's and runs on; zerodown's server routes nothing
        (503) from here on, so no request goes to instances being stopped. The table keeps
        its version: the next one (a later version) replaces it as any other."""
        if self.options.attached:
            with self._locked():
                old_text = self._read_conf()
                current = self._table_of(old_text)
                if current.revisions and self._master() is not None:
                    self._put(RoutingTable(current.version, epoch=current.epoch), current,
                              old_text)
            return
        with self._locked():
            master = self._master()
            if master is None:
                return
            self.host.send_signal(master.pid, master.start, signal.SIGQUIT)
            if not self.host.wait_gone(master.pid, master.start, timeout):
                # the workers share its group
                self.host.send_signal(master.pid, master.start, signal.SIGKILL, group=True)
                self.host.wait_gone(master.pid, master.start, 10.0)

    # --- helpers -------------------------------------------------------------------

    def _ensure_include(self) -> None:
        """Attach mode: the include file exists, so the user's nginx can start before any
        deployment (nginx refuses a missing include); with no table it answers 503."""
        if self.host.read_text(str(self.conf_path)) is not None:
            return
        if not self.host.remote and not self.conf_path.parent.is_dir():
            raise RouterError(f"router.config: the folder of {self.conf_path} does not exist; "
                              f"create it (zerodown writes the file itself)")
        self.host.write_text(str(self.conf_path), self._render(EMPTY_TABLE))

    def _render(self, table: RoutingTable) -> str:
        log = str(self.access_log) if self.options.attached else "access.log"
        running = self._shadow_state()
        http = render_http(table, self.listen, service=self.service, options=self.options,
                           access_log=log, tls=self.tls,
                           mirror=running["comparator"] if running else None,
                           mirror_percent=running.get("percent", 100.0) if running else 100.0)
        if self.options.attached:
            return http
        return render_main(http, options=self.options, user=self._run_as())

    def _run_as(self) -> str | None:
        """The workers' user when nginx starts as root (else nginx would use nobody, who
        cannot write the state directory): the user it runs as on its host."""
        if self._user is None:
            if not self.host.remote:
                self._user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else ""
            else:
                code, out = self.host.run(["id", "-un"], 10.0)
                self._user = out.strip() if code == 0 and out.strip() == "root" else ""
        return self._user or None

    def _read_conf(self) -> str:
        try:
            return self.host.read_text(str(self.conf_path)) or ""
        except OSError as e:
            raise RouterError(f"cannot read {self.conf_path}: {e.strerror}") from None

    def _table_of(self, text: str) -> RoutingTable:
        meta = read_meta(text) if text else None
        return meta.table if meta else EMPTY_TABLE

    def _write_tested(self, text: str, old_text: str, running: bool) -> None:
        """Write `text` and have nginx check it; on failure the previous file comes back
        (in force only if a master is `running`: the error says which)."""
        self.host.makedirs(str(self.state_dir / "temp"))
        send_files(self.host, self.files)
        self.host.write_text(str(self.conf_path), text)
        try:
            self._nginx("-t", "-q", timeout=TEST_TIMEOUT, failed="nginx refused the "
                        f"configuration; {left_serving(running, 'nginx', self.listen)}")
        except RouterError:
            self._restore(old_text)
            raise

    def _restore(self, old_text: str) -> None:
        if old_text:
            self.host.write_text(str(self.conf_path), old_text)
        else:
            self.host.remove(str(self.conf_path))

    def _nginx(self, *args: str, timeout: float, failed: str) -> None:
        """Run nginx; `failed`: what a non-zero exit means and leaves (its output follows)."""
        argv = [self.options.nginx, *args, *self._where()]
        code, said = self.host.run(argv, timeout)  # its output in a file: nginx daemonizes
        said = said.strip()
        if code is None:
            raise RouterError(f"cannot run `{' '.join(argv)}` on {self.host.name}: {said}; "
                              f"install nginx or set router.nginx to its path")
        if code != 0:
            raise start_failure(f"{failed} (`{' '.join(argv)}` exited {code}; what it said "
                                f"names what to fix):\n{said}", said, self.host)

    def _where(self) -> list[str]:
        """-p/-c/-e for nginx: ours in managed mode, the running master's in attach mode."""
        if not self.options.attached:
            return ["-p", f"{self.state_dir}/", "-c", str(self.conf_path), "-e", "stderr"]
        prefix, conf = None, self.options.main_config
        master = self._master()
        if master is not None:
            prefix, seen = procs.master_args(master)
            conf = conf or seen
        return [*(["-p", prefix] if prefix else []), *(["-c", conf] if conf else [])]

    def _start(self) -> procs.Proc:
        self.host.remove(str(self.pid_file))
        self._nginx(timeout=READY_TIMEOUT,  # daemon on: returns once the master forked
                    failed=left_serving(False, "nginx", self.listen))
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            master = self._master()
            if master is not None and procs.workers(master.pid, self.host):
                return master
            if time.monotonic() > deadline:
                raise RouterError(f"nginx did not start within {READY_TIMEOUT:g}s; {self._tail()}")
            time.sleep(self.host.poll)

    def _reload(self, master: procs.Proc, removed: set[str], old_text: str) -> None:
        """SIGHUP, then wait until only new workers accept: old ones gone or shutting down."""
        before = procs.workers(master.pid, self.host)
        drains = self._drains()
        for backend_id in removed:
            drains[backend_id] = [list(w.key) for w in before]
        self.host.write_text(str(self.drains_file), json.dumps(drains) + "\n")  # before acting
        self.host.send_signal(master.pid, master.start, signal.SIGHUP)
        old = {w.key for w in before}
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if procs.reloaded(procs.workers(master.pid, self.host), old):
                return
            if not procs.alive(master.key, self.host) or time.monotonic() > deadline:
                self._restore(old_text)
                state = "exited" if not procs.alive(master.key, self.host) else \
                    f"started no new workers within {READY_TIMEOUT:g}s"
                raise RouterError(f"nginx master (pid {master.pid}) {state} after a reload; "
                                  f"{self._tail()}")
            time.sleep(RELOAD_POLL)

    def _drains(self) -> dict[str, list[list[int]]]:
        try:
            return json.loads(self.host.read_text(str(self.drains_file)) or "{}")
        except ValueError:
            return {}

    def _remember(self, table: RoutingTable) -> None:
        """Addresses -> backend ids, for stats of backends that have left since."""
        for backend_id, (revision, backend) in table.backends().items():
            self._addresses[backend.address] = (backend_id, revision)

    def _master(self) -> procs.Proc | None:
        if self.options.attached:
            return procs.master_from(self.pid_file, host=self.host)
        return procs.master_from(self.pid_file, self.conf_path, self.host) or \
            procs.find_master(self.conf_path, self.host)

    def _tail(self) -> str:
        return log_tail(self.error_log, host=self.host)

    def _locked(self):
        """One controller at a time writes the config and signals nginx."""
        return locked(self._lock, self.local_dir / "nginx.lock")

