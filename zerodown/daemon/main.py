"""The controller daemon's process: `zerodown controller --foreground`.

It holds <state dir>/controller.lock (a flock the kernel drops when it dies, so
"is it running?" needs no lease), writes controller.pid, serves the API on
controller.sock (0600) and on TCP if configured, and runs six threads: the
runner (the active deployment), the watchdog (deadlines), the host watch (a fleet
host a deployment paused for answering again), the TLS watch (renewed certificates
handed to the load balancer), the observer (status, metrics, events) and the HTTP
servers. SIGTERM or SIGINT stops it at once (exit 0, or 130 on SIGINT):
whatever step was in progress resumes from the store at the next start, as
after a crash, so restarting it (an upgrade) loses nothing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from zerodown.api.auth import Tokens, bearer
from zerodown.api.routes import Api
from zerodown.api.server import TcpServer, UnixServer, serve_in_thread
from zerodown.controller import Controller
from zerodown.daemon.actions import Actions
from zerodown.daemon.host_watch import HostWatch
from zerodown.daemon.observer import Observer
from zerodown.daemon.runs import Runner
from zerodown.daemon.tls_watch import TlsWatch
from zerodown.daemon.watchdog import Watchdog
from zerodown.engine.service_lock import take
from zerodown.errors import UsageError, ZerodownError
from zerodown.runtimes.kept import KeptConnections


SIGNAL_LOOK = 0.2  # seconds at most between a SIGTERM and the controller acting on it


def paths(state_dir: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(socket, pid file, lock file) of a state dir's controller."""
    d = Path(state_dir)
    return d / "controller.sock", d / "controller.pid", d / "controller.lock"


def split_listen(text: str) -> tuple[str, int]:
    """"7070" → loopback:7070; "0.0.0.0:7070" as told; "[::1]:7070"."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"controller listen address {text!r} must be [HOST:]PORT, "
                         "e.g. 127.0.0.1:7070")
    return host, int(port)


def log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", flush=True)


def take_lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return take(path, 0o600, lambda holder: UsageError(
        f"a controller (pid {holder}) already runs for {path.parent}"))


def serve(file: str, state_dir: str | None, api_listen: str | None = None,
          ready: threading.Event | None = None, stop: threading.Event | None = None) -> int:
    ctl = Controller(file, state_dir)
    ctl.watched = ctl.watch()  # every request and thread sees the file as it is now
    cfg = ctl.working_config()
    sock, pid_file, lock_file = paths(ctl.state_dir)
    listen = api_listen or cfg.controller.listen
    tcp_address = split_listen(listen) if listen else None
    take_lock(lock_file)  # held until the process exits
    stop = stop or threading.Event()
    stopped_by: list[int] = []  # the signal that set `stop`, if one did
    kept = KeptConnections()  # a fleet's SSH connections, from one request and run to the next
    # the file as it is now (read again once it changed); the events its stores write wake
    # the API's waiting requests
    fresh = lambda: Controller(ctl.file, str(ctl.state_dir), kept,  # noqa: E731
                               lambda event: observer.wrote(event), ctl.watched)
    tcp: TcpServer | None = None

    def dashboard() -> str | None:
        if tcp is None:
            return None
        host, port = tcp.server_address[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/dashboard/"

    try:
        observer = Observer(ctl, dashboard)
        runner = Runner(fresh, cfg.service, log)
        observer.settled = runner.settled
        observer.controller_error = lambda id: (runner.error[1] if runner.error is not None
                                                and runner.error[0] == id else None)
        watchdog = Watchdog(fresh, cfg.service, runner.wake, log)
        host_watch = HostWatch(fresh, cfg.service, runner.wake, log)
        tls_watch = TlsWatch(fresh, cfg.service, log)
        api = Api(observer, Actions(fresh, runner.wake, cfg.service), cfg.service,
                  lambda: ctl.controller_pid(cfg.service), runner.settled)
        tokens = Tokens(ctl.state_dir)
        pid_file.write_text(f"{os.getpid()}\n")
        # The runner first: an interrupted deployment resumes before anything else is ready.
        for name, target in (("runner", runner.run), ("watchdog", watchdog.run),
                             ("host-watch", host_watch.run), ("tls-watch", tls_watch.run)):
            threading.Thread(target=target, args=(stop,), name=name, daemon=True).start()
        unix = UnixServer(str(sock), api)
        if tcp_address is not None:
            tcp = TcpServer(tcp_address, api, lambda r: bearer(tokens, r.headers, r.query))
        observer.tick()  # the first status document before the first request
        threading.Thread(target=observer.run, args=(stop,), name="observer", daemon=True).start()
        serve_in_thread(unix, "api-unix")
        if tcp is not None:
            serve_in_thread(tcp, "api-tcp")
        if threading.current_thread() is threading.main_thread():
            def stopping(signum: int, _frame: object) -> None:
                stopped_by.append(signum)
                stop.set()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, stopping)
        log(f"controller of {cfg.service} (pid {os.getpid()}) on {sock}"
            + (f" and http://{listen} (dashboard {dashboard()})" if tcp else ""))
        if ready is not None:
            ready.set()
        # Not one untimed wait: the kernel may hand SIGTERM to another thread (one in a
        # poll: a stop awaiting an exit), and then nothing wakes the main thread, the only
        # one Python runs handlers in, out of its futex: the signal waited for the next
        # one (tests/component/test_stop_intent_kill.py). A timed wait returns to Python.
        while not stop.wait(SIGNAL_LOOK):
            pass
        interrupted = signal.SIGINT in stopped_by
        log("controller stopping" + (": interrupted (SIGINT)" if interrupted else ""))
        for server in (unix, tcp):
            if server is not None:
                server.shutdown()
                server.server_close()
        # Ctrl-C in a terminal is 130 as in every command; SIGTERM (systemd's stop) is 0
        return 130 if interrupted else 0
    except ZerodownError:
        raise
    except OSError as e:
        raise UsageError(f"controller: cannot listen: {e}") from None
    finally:
        # `kept` is not closed here either: a run may still be mid-step on it, and a call
        # failing on a closed connection would be recorded as its host's failure; the
        # process's exit ends them, as it ends the run
        for path in (sock, pid_file):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        # controller.lock is not let go here: the process's exit does (cmd_controller ends
        # it with os._exit), so "no controller" never holds while its runner still runs.
