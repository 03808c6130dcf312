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
from typing import Any, Callable, Sequence

import uvloop

from zerodown.errors import UsageError, ZerodownError
from zerodown.proxy import accel, handover, services as services_mod, table_cli, tls
from zerodown.proxy import supervisor as supervisor_mod
from zerodown.proxy.admin import AdminAPI, MetricsAPI
from zerodown.proxy.dataplane import DataPlane
from zerodown.proxy.listeners import Listeners, handover_path, open_listeners, parse_hostport
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
                   apis: Sequence = ()) -> None:
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
