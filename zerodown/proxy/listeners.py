"""The sockets the proxy serves on: the public listener, the admin one, and beside them
the --metrics and --redirect-http listeners — bound, or taken over from a proxy already
running with the same state file (handover.py), by the supervisor, whose serving processes
inherit them."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass

from zerodown.errors import UsageError
from zerodown.model import RoutingTable
from zerodown.proxy import handover
from zerodown.socket_path import short


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
        path = short(spec[5:])  # a deep state directory's: through a short link
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
