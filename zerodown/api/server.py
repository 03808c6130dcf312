"""The controller's HTTP servers: one on a 0600 unix socket (the file permission is the
authentication; "who" is the peer's user name), one on TCP if asked (a bearer token).

Stdlib ThreadingHTTPServer: a thread per connection keeps a slow SSE client
from holding anyone else up, and every answer but the stream is read from
memory or one SQLite query, so p99 stays in milliseconds (benchmarks/api_bench.py).
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qsl, urlsplit

from zerodown.api.errors import ApiError
from zerodown.socket_path import short

MAX_BODY = 1 << 20  # no action needs more than a few hundred bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    who: str  # the local user (unix socket) or the token's name (TCP)
    origin: str  # "unix socket (pid 123)" or "tcp 10.0.0.5:51234"
    tcp: bool

    def json(self) -> dict:
        """The body as a JSON object ({} when empty); ApiError 400 otherwise."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, f"the request body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise ApiError(400, f"the request body must be a JSON object, got {type(data).__name__}")
        return data


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: Callable[[Callable[[bytes], None]], None] | None = None  # SSE: writes until it returns

    @classmethod
    def json(cls, status: int, data: object) -> Reply:
        return cls(status, (json.dumps(data) + "\n").encode())


App = Callable[[Request], Reply]  # routes.Api


def public(request: Request) -> bool:
    """The dashboard's static files need no token: they hold no data (every figure comes
    from /api/v1 with the token), and a browser sends no Authorization header when it
    loads a page and its scripts, so the page could not load its own app.js."""
    path = request.path
    return request.method == "GET" and (path in ("/", "/dashboard") or
                                         path.startswith("/dashboard/"))


def unheard(request: Request, reply: Reply) -> None:
    """An action's answer its client left before reading, in the controller's log (a
    deploy refused after the command line stopped waiting: its error, naming the host
    that failed the upload, reached nobody, and the log showed a BrokenPipeError)."""
    try:
        said = json.loads(reply.body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        said = ""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {request.method} {request.path} by "
          f"{asker(request.who, request.origin)} answered {reply.status}"
          + (f": {said}" if said else "") + "; its client had gone and did not read it",
          flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the dashboard polls and streams on few connections
    server_version = "zerodown-controller"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        server: _Serving = self.server  # type: ignore[assignment]
        url = urlsplit(self.path)
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            self._send(Reply.json(413, ApiError(413, f"request body over {MAX_BODY} bytes").body()))
            return
        body = self.rfile.read(size) if size else b""
        request = Request(self.command, url.path, dict(parse_qsl(url.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body, *server.peer(self),
                          tcp=server.tcp)
        try:
            if server.tcp and not public(request):
                assert server.authenticate is not None  # a TcpServer is made with one
                request.who = server.authenticate(request)
            reply = server.app(request)
        except ApiError as e:
            reply = Reply.json(e.status, e.body())
        except Exception as e:  # a bug: say so in JSON, keep serving
            reply = Reply.json(500, ApiError(500, f"internal error: {type(e).__name__}: {e}").body())
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            if request.method != "GET":
                unheard(request, reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if reply.stream is None:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            reply.stream(self._write)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client went away

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        pass  # actions are in the event log; per-request lines would drown the controller's log


class _Serving(ThreadingHTTPServer):
    daemon_threads = True  # an open SSE stream must not keep the controller from stopping
    tcp = False

    def __init__(self, address, app: App, authenticate: Callable[[Request], str] | None = None):
        self.app, self.authenticate = app, authenticate
        super().__init__(address, Handler)

    if TYPE_CHECKING:  # each kind's own (socketserver types an address of either family)
        def peer(self, handler: Handler) -> tuple[str, str]: ...


class TcpServer(_Serving):
    tcp = True
    allow_reuse_address = True
    server_address: tuple[str, int]

    def peer(self, handler: Handler) -> tuple[str, str]:
        host, port = handler.client_address[:2]
        return "", f"tcp {host}:{port}"


class UnixServer(_Serving):
    address_family = socket.AF_UNIX
    # a path: typeshed's TCPServer, ThreadingHTTPServer's base, knows no AF_UNIX address
    server_address: str  # type: ignore[assignment]

    def server_bind(self) -> None:
        path = short(self.server_address)  # a deep state directory's: through a short link
        try:
            os.unlink(path)  # a stale socket of a dead controller (we hold the controller lock)
        except FileNotFoundError:
            pass
        old = os.umask(0o177)  # created 0600: no window in which another user could connect
        try:
            self.socket.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.server_name, self.server_port = "localhost", 0

    def peer(self, handler: Handler) -> tuple[str, str]:
        creds = handler.connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                              struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", creds)
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = f"uid {uid}"
        return user, f"unix socket (pid {pid})"


def asker(who: str, origin: str) -> str:
    """Who asked and from where, in one plain phrase: 'root over the unix socket, pid
    4242', 'ci over TCP from 10.0.0.5:51234' (an action's event, the controller's log).
    `origin` as a peer() said it; one of another form (the controller's own: 'deadline')
    is said as it is."""
    if origin.startswith("unix socket (pid ") and origin.endswith(")"):
        where = f"over the unix socket, pid {origin[len('unix socket (pid '):-1]}"
    elif origin.startswith("tcp "):
        where = f"over TCP from {origin[4:]}"
    else:
        where = f"({origin})"
    return f"{who or 'an unnamed token'} {where}"


def serve_in_thread(server: _Serving, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name=name, daemon=True)
    thread.start()
    return thread
