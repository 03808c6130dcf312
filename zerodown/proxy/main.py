"""`zerodown proxy`: run the embedded data plane as its own process.

    zerodown proxy --listen 127.0.0.1:8080 --admin unix:/run/zd/admin.sock --state /run/zd/proxy.json

It runs as a supervisor that holds the sockets and a serving process it
restarts at once if it dies (supervisor.py). Start a second one with the same
--state and it takes over from the first without dropping a connection (see
handover.py). SIGTERM or SIGINT: stop accepting, finish in-flight requests,
close keep-alive connections, exit.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable

import uvloop

from zerodown.errors import UsageError, ZerodownError
from zerodown.model import RoutingTable
from zerodown.proxy import accel, handover, services as services_mod, table_cli, tls
from zerodown.proxy import supervisor as supervisor_mod
from zerodown.proxy.admin import AdminAPI, MetricsAPI
from zerodown.proxy.dataplane import DataPlane
from zerodown.proxy.redirect import Redirector
from zerodown.proxy.settings import ProxySettings
from zerodown.proxy.state import TableFile, load_table
from zerodown.proxy.tls_transport import TlsServer

API_DRAIN = 2.0  # s an admin or metrics connection is waited for when this process stops


def parse_args(argv: list[str]) -> argparse.Namespace:
    d = ProxySettings()
    p = argparse.ArgumentParser(
        prog="zerodown proxy", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  zerodown proxy --listen 127.0.0.1:8080 --admin unix:/tmp/zd/admin.sock "
               "--state /tmp/zd/proxy.json\n\n`zerodown proxy table|deploy|list --help`: "
               "clients of a running proxy.")
    p.add_argument("--listen", required=True, help="HOST:PORT for client traffic")
    p.add_argument("--admin", required=True, help="unix:PATH, or HOST:PORT (then a token is required)")
    p.add_argument("--state", required=True, help="file holding the last applied routing table")
    p.add_argument("--admin-token", default=os.environ.get("ZERODOWN_ADMIN_TOKEN"),
                   help="bearer token for a TCP admin listener (or $ZERODOWN_ADMIN_TOKEN)")
    p.add_argument("--service", default="zerodown", help="service name used in metrics labels")
    p.add_argument("--metrics", default=None,
                   help="HOST:PORT of a read-only listener for Prometheus (GET /metrics only)")
    p.add_argument("--metrics-token", default=os.environ.get("ZERODOWN_METRICS_TOKEN"),
                   help="bearer token the --metrics listener requires (or $ZERODOWN_METRICS_TOKEN)")
    p.add_argument("--tls-cert", default=None,
                   help="PEM certificate (chain) of the default name: --listen speaks TLS")
    p.add_argument("--tls-key", default=None, help="the private key of --tls-cert")
    p.add_argument("--tls-sni", action="append", default=[], metavar="NAMES=CERT,KEY",
                   help="a certificate for these host names (SNI), e.g. "
                        "'api.example.com,*.api.example.com=api.pem,api.key'; repeatable")
    p.add_argument("--redirect-http", default=None, metavar="HOST:PORT",
                   help="with TLS: a plain-HTTP listener answering 308 to the https URL")
    p.add_argument("--http2", action="store_true",
                   help="with TLS: offer HTTP/2 (ALPN h2, then http/1.1); streams go to the "
                        "backends as HTTP/1.1")
    p.add_argument("--http2-prior-knowledge", action="store_true",
                   help="on a plain listener: serve a connection that opens with the HTTP/2 "
                        "preface (h2c) as HTTP/2; without it the preface gets 400")
    p.add_argument("--no-supervise", action="store_true",
                   help="one process that nothing restarts (by default a supervisor restarts it)")
    for f in dataclasses.fields(d):
        value = getattr(d, f.name)
        unit = "SECONDS" if isinstance(value, float) else type(value).__name__.upper()
        p.add_argument("--" + f.name.replace("_", "-"), type=type(value), default=value,
                       metavar=unit,
                       help=f"{f.metadata['help']} (default {value!r})")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> ProxySettings:
    fields = {k: getattr(args, k) for k in vars(ProxySettings())}
    for k, v in fields.items():
        if not isinstance(v, str) and v <= 0 and k != "eject_base":
            raise UsageError(f"--{k.replace('_', '-')}: must be positive, got {v}")
    return ProxySettings(**fields)


def parse_hostport(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536 or not host:
        raise UsageError(f"{flag}: expected HOST:PORT like 127.0.0.1:8080, got {text!r}")
    return host.strip("[]"), int(port)


def bind_tcp(host: str, port: int, shared: bool = False) -> socket.socket:
    """shared: SO_REUSEPORT, so a successor binds it beside us during a handover."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(4096)
    return sock


def bind_admin(spec: str, token: str | None) -> socket.socket:
    if spec.startswith("unix:"):
        path = spec[5:]
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the admin socket is for its owner only
        try:
            sock.bind(path)
        except OSError as e:
            sock.close()
            raise UsageError(f"cannot listen on unix:{path}: {e.strerror}") from None
        finally:
            os.umask(old)
        sock.listen(128)
        return sock
    if not token:
        raise UsageError("--admin on TCP needs --admin-token (or $ZERODOWN_ADMIN_TOKEN)")
    return bind_tcp(*parse_hostport(spec, "--admin"))


@dataclass
class Listeners:
    """The sockets the proxy serves on, and the table to start with (None: the saved one)."""
    listen: socket.socket
    admin: socket.socket
    table: RoutingTable | None
    inherited: handover.Inherited | None  # from a running proxy, told READY once we serve
    services: dict | None = None  # the other services (services.py); None: the saved ones
    metrics: socket.socket | None = None  # --metrics
    redirect: socket.socket | None = None  # --redirect-http (with TLS)

    def close(self) -> None:
        for sock in (self.listen, self.admin, self.metrics, self.redirect):
            if sock is not None:
                sock.close()


def make_folders(args: argparse.Namespace) -> None:
    """The folders of --state and of a unix --admin socket, made (for their owner only)
    when missing: `--admin unix:/tmp/zd/admin.sock` works without a mkdir first."""
    paths = [args.state] + ([args.admin[5:]] if args.admin.startswith("unix:") else [])
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot make the folder of {path}: {folder}: {e.strerror}") from None


def open_listeners(args: argparse.Namespace) -> Listeners:
    """Take the sockets over from a proxy running with this state file, else bind them."""
    make_folders(args)
    inherited = handover.take_over(handover_path(args))
    if inherited:
        got = Listeners(inherited.listen, inherited.admin, inherited.table, inherited,
                        inherited.services)
    else:
        got = Listeners(bind_tcp(*parse_hostport(args.listen, "--listen")),
                        bind_admin(args.admin, args.admin_token), None, None)
    got.metrics = beside(inherited, "metrics", args.metrics, "--metrics")
    got.redirect = beside(inherited, "redirect", args.redirect_http if args.tls_cert else None,
                          "--redirect-http")
    return got


def beside(inherited: handover.Inherited | None, name: str, spec: str | None,
           flag: str) -> socket.socket | None:
    """A listener beside the public one (the metrics', the redirect's): held by the
    supervisor like it and taken over with it, so a serving process's restart or a
    handover never resets a connection waiting in its queue (each serving process bound
    its own, SO_REUSEPORT, and a scrape reached the one closing). The predecessor's where
    it listened on this address; else bound, SO_REUSEPORT still (an older predecessor
    binds its own beside us until it stops)."""
    had = inherited.extra.pop(name, None) if inherited else None
    if spec is None:
        if had is not None:
            had.close()
        return None
    host, port = parse_hostport(spec, flag)
    if had is not None:
        if had.getsockname()[:2] == (host, port):
            return had
        had.close()  # asked elsewhere now
    return bind_tcp(host, port, shared=True)


def handover_path(args: argparse.Namespace) -> str:
    return handover.path_for(args.state)


def services_folder(args: argparse.Namespace) -> str:
    """Where the other services sharing this proxy are saved: proxy.json -> proxy.services/."""
    return os.path.splitext(os.path.abspath(args.state))[0] + ".services"


def tls_terminator(args: argparse.Namespace, plane: DataPlane) -> tls.Terminator | None:
    """With --tls-cert: the terminator, reloading changed certificate files (polled each
    second; SIGHUP: at once, see serve); X-Forwarded-Proto says https to the backends."""
    config = tls.config_from_args(args.tls_cert, args.tls_key, args.tls_sni, args.http2)
    if config is None:
        return None
    terminator = tls.Terminator(config, plane.errors.line)
    for each in plane.planes:  # every service's (a client reads its listener's: the front's)
        each.forwarded_proto = b"\r\nX-Forwarded-Proto: https\r\n"
    loop = asyncio.get_running_loop()

    def watch() -> None:
        terminator.reload_if_changed()
        loop.call_later(tls.WATCH_INTERVAL, watch)
    loop.call_later(tls.WATCH_INTERVAL, watch)
    return terminator


async def serve(args: argparse.Namespace, settings: ProxySettings, sockets: Listeners,
                ready: Callable[[], None], supervisor: int | None = None) -> int:
    """Serve until stopped (STOPPED) or handed over to a successor (HANDED_OVER)."""
    loop = asyncio.get_running_loop()
    state_path = os.path.abspath(args.state)
    plane = DataPlane(loop, settings, persist=TableFile(state_path).save, service=args.service)
    plane.errors.install(loop)  # asyncio's tracebacks become rate-limited lines too
    services = services_mod.Services(plane, services_folder(args))
    api = AdminAPI(plane, token=args.admin_token if not args.admin.startswith("unix:") else None,
                   supervisor=supervisor, services=services)
    listen_sock, admin_sock = sockets.listen, sockets.admin
    plane.apply(sockets.table or load_table(state_path), durable=False)
    services.restore(sockets.services if sockets.services is not None
                     else services_mod.load(services_folder(args)))
    servers = []
    apis = [api]
    if sockets.metrics is not None:  # held by the supervisor, handed over (open_listeners)
        apis.append(MetricsAPI(plane, token=args.metrics_token, services=services))
        servers.append(await asyncio.start_server(apis[-1].handle, sock=sockets.metrics))
    terminator = tls_terminator(args, plane)
    if terminator and sockets.redirect is not None:  # likewise
        port = listen_sock.getsockname()[1]
        servers.append(await loop.create_server(lambda: Redirector(port),
                                                sock=sockets.redirect))
    server: Any
    if terminator:  # OpenSSL on the socket itself (tls_transport.py), not uvloop's SSL layer
        server = TlsServer(loop, listen_sock, client_protocol(args, plane, terminator),
                           terminator.context, settings.header_timeout, log=plane.errors.line)
    else:
        server = await loop.create_server(
            client_protocol(args, plane, terminator), sock=listen_sock,  # type: ignore[arg-type]
            backlog=4096)
    if admin_sock.family == socket.AF_UNIX:
        admin = await asyncio.start_unix_server(api.handle, sock=admin_sock)
    else:
        admin = await asyncio.start_server(api.handle, sock=admin_sock)
    plane.start()
    done = asyncio.Event()
    handed = False

    def offer():
        api.accepting_writes = False
        extra = {n: s for n, s in (("metrics", sockets.metrics), ("redirect", sockets.redirect))
                 if s is not None}
        return ([listen_sock.fileno(), admin_sock.fileno(), *(s.fileno() for s in extra.values())],
                plane.table, services.snapshot(), list(extra))

    async def handed_over():
        nonlocal handed
        handed = True
        done.set()

    def cancelled():
        api.accepting_writes = True

    # Bound before anyone is told we serve: the next restart must find us here.
    successor = await handover.serve(handover_path(args), offer, handed_over, cancelled)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    # SIGHUP (to us or to the supervisor, which passes it on): reload the certificates
    loop.add_signal_handler(signal.SIGHUP, terminator.reload if terminator else lambda: None)
    print(f"zerodown proxy serving: pid={os.getpid()} table=v{plane.table.version} "
          f"hot-path={'compiled' if accel.compiled() else 'python'}", flush=True)
    ready()
    await done.wait()
    await shutdown(plane, [server, admin, successor, *servers], settings, apis)
    return supervisor_mod.HANDED_OVER if handed else supervisor_mod.STOPPED


def client_protocol(args: argparse.Namespace, plane: DataPlane,
                    terminator: tls.Terminator | None) -> Callable[[], object]:
    """The public listener's protocol factory: HTTP/1.1, unless HTTP/2 was asked for."""
    if args.http2_prior_knowledge:
        from zerodown.proxy.h2session import prior_knowledge
        plane.h2c = prior_knowledge
    if args.http2 and terminator is not None:
        from zerodown.proxy.h2session import Negotiated
        return lambda: Negotiated(plane, plane.protocol)
    return plane.protocol


def ready_line(args: argparse.Namespace, pid: int, sockets: Listeners, serving: int) -> str:
    """What EmbeddedRouter and the tests wait for: "ready ... pid=<the process they started> "."""
    return (f"zerodown proxy ready: listen={args.listen} admin={args.admin} "
            + (f"metrics={args.metrics} " if args.metrics else "") + f"pid={pid} "
            f"serving={serving}" + (" (took over)" if sockets.inherited else ""))


def supervise(args: argparse.Namespace, settings: ProxySettings) -> int:
    """The default: a supervisor process that restarts the serving one (supervisor.py)."""
    sockets = open_listeners(args)
    if sockets.table is None:  # a damaged state file is reported here, before any fork
        sockets.table = load_table(os.path.abspath(args.state))
    if sockets.services is None:
        sockets.services = services_mod.load(services_folder(args))
    me = os.getpid()

    def child(ready_fd: int, first: bool) -> int:
        if sockets.inherited:
            sockets.inherited.channel.close()  # the supervisor's to answer, not ours
        if not first:
            sockets.table = None  # a restart serves the saved tables, the newest there are
            sockets.services = None

        def ready() -> None:
            os.write(ready_fd, b"R")
            os.close(ready_fd)
        try:
            return uvloop.run(serve(args, settings, sockets, ready, supervisor=me))
        except ZerodownError as e:  # e.g. the state file damaged since: one line, no traceback
            print(f"zerodown proxy: {e}", file=sys.stderr, flush=True)
            return e.exit_code

    def release() -> None:
        sockets.close()

    sup = supervisor_mod.Supervisor(child, lambda line: print(line, flush=True), release)
    pid = sup.start()
    if pid is None:
        return sup.exit_code
    if sockets.inherited:
        sockets.inherited.ready()  # the old proxy stops accepting and drains
    print(ready_line(args, me, sockets, pid), flush=True)
    return sup.watch()


def run_alone(args: argparse.Namespace, settings: ProxySettings) -> int:
    """--no-supervise: one process, nothing restarts it (benchmarks, debugging)."""
    sockets = open_listeners(args)

    def ready() -> None:
        if sockets.inherited:
            sockets.inherited.ready()
        print(ready_line(args, os.getpid(), sockets, os.getpid()), flush=True)
    uvloop.run(serve(args, settings, sockets, ready))
    return 0


async def shutdown(plane: DataPlane, servers: list, settings: ProxySettings,
                   apis: list = ()) -> None:
    """Stop accepting; every response from now on closes its connection; wait for the last.
    The admin and metrics APIs' connections too, for at most API_DRAIN: one accepted just
    before the handover (its request on its way) is answered, not cut by our exit; an
    idle keep-alive one is let go at the bound."""
    for s in servers:
        s.close()
    plane.begin_stop()
    for api in apis:
        api.stopping = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.drain_timeout
    apis_until = loop.time() + min(API_DRAIN, settings.drain_timeout)
    while loop.time() < deadline and (plane.clients or (
            loop.time() < apis_until and any(a.open for a in apis))):
        await asyncio.sleep(0.05)  # the sweeper closes idle clients; busy ones end with their response
    for client in list(plane.clients):
        client.transport.abort()
    plane.close()


def check_tls(args: argparse.Namespace) -> None:
    """Certificates load, keys match, names are valid: said before anything is bound."""
    config = tls.config_from_args(args.tls_cert, args.tls_key, args.tls_sni)
    if config is None:
        if args.redirect_http:
            raise UsageError("--redirect-http redirects to TLS: add --tls-cert and --tls-key")
        if args.http2:
            raise UsageError("--http2 is HTTP/2 over TLS (ALPN h2): add --tls-cert and "
                             "--tls-key, or use --http2-prior-knowledge for h2c on a plain "
                             "listener")
        return
    tls.CertSet(config)
    if args.redirect_http:
        parse_hostport(args.redirect_http, "--redirect-http")


def main(argv: list[str]) -> int:
    if argv[:1] and argv[0] in table_cli.COMMANDS:  # a client of a running proxy
        return table_cli.main(argv)
    try:
        args = parse_args(argv)
        settings = settings_from(args)
        check_tls(args)
        return run_alone(args, settings) if args.no_supervise else supervise(args, settings)
    except ZerodownError as e:
        print(f"zerodown proxy: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    return 0
