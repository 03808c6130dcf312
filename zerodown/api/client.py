"""The CLI's side of the API: HTTP/1.1 over the controller's unix socket, or over TCP
with a bearer token (`zerodown --server URL --token-file F ...`).

Imported by `zerodown status` before anything else, so it imports nothing heavy
(no yaml, sqlite or asyncio): that keeps a status round trip near 50 ms.
"""

from __future__ import annotations

import json
import os
import socket

from zerodown.errors import UsageError, ZerodownError

TIMEOUT = 30.0


def state_dir_of(file: str, state_dir: str | None) -> str:
    """The state dir as Controller computes it: --state-dir, else .zerodown beside the file."""
    default = os.path.join(os.path.dirname(os.path.abspath(file)), ".zerodown")
    return os.path.abspath(state_dir or default)


class Unreachable(ZerodownError):
    """No controller answers where we looked (not started, or it died)."""


class Unanswered(Unreachable):
    """Connected, and no answer within the client's timeout: something listens (a busy
    controller or proxy), so starting another will not help, nor will asking again at once."""


def busy(where: str, timeout: float, pid: int | None) -> str:
    """What a command says of a controller that accepted its connection and did not answer:
    it runs (a second one beside it would not get its lock), it is busy, where to look."""
    who = f"the controller (pid {pid})" if pid else "the controller"
    return (f"{who} is busy: no answer on {where} within {timeout:g}s; it goes on by itself "
            "(`zerodown logs controller` says what it does): ask again later")


def holder_beside(socket_path: str) -> int | None:
    """The pid of the controller whose socket this is: whoever holds controller.lock beside
    it (daemon/process.pid asks the same), if anyone."""
    # Imported here, only once a controller did not answer: `zerodown status` imports
    # nothing of the engine on its way (tests/unit/test_cli_parser.py).
    from zerodown.engine.service_lock import lock_holder
    return lock_holder(os.path.join(os.path.dirname(socket_path), "controller.lock"))


class ApiFailure(ZerodownError):
    """The controller answered with an error: its message, HTTP status and field."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field
        # bad requests and actions the state refuses are usage errors (retrying will not help)
        self.exit_code = 2 if status in (400, 401, 404, 405, 409) else 1


class Client:
    """Client(socket_path=...) on this machine, or Client(url=..., token=...).

    HTTP/1.1 over one kept-alive socket, written out here rather than with
    http.client: importing http.client (and the email package under it) costs
    more than the whole round trip. The controller always sends Content-Length.
    """

    def __init__(self, socket_path: str | None = None, url: str | None = None,
                 token: str | None = None, timeout: float | None = None):
        self.socket_path, self.url, self.token = socket_path, url, token
        self.timeout = TIMEOUT if timeout is None else timeout
        self.remote = url is not None
        self._sock: socket.socket | None = None
        self._buffer = b""
        self.host = "localhost"
        if url is not None:
            from urllib.parse import urlsplit  # only for --server
            parts = urlsplit(url if "//" in url else "http://" + url)
            if parts.scheme != "http" or not parts.hostname:
                raise UsageError(f"--server {url}: must be http://HOST:PORT (put a TLS proxy in "
                                 "front for https, and give its plain address here)")
            self.host = parts.netloc
            self.address = (parts.hostname, parts.port or 80)

    @property
    def where(self) -> str:
        return self.url or f"unix:{self.socket_path}"

    def _connect(self) -> socket.socket:
        if self._sock is None:
            if self.url is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.socket_path)
                except OSError:
                    sock.close()
                    raise
            else:
                try:
                    sock = socket.create_connection(self.address, timeout=self.timeout)
                except TimeoutError:  # no connection at all: not a busy controller
                    raise Unreachable(f"no connection to the controller at {self.where} "
                                      f"within {self.timeout:g}s") from None
            self._sock, self._buffer = sock, b""
        return self._sock

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(HTTP status, the JSON answer). Unreachable when nothing listens."""
        status, raw = self.exchange(method, path, body)
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            raise ApiFailure(status, f"the controller at {self.where} answered {status} "
                                     "with no JSON") from None
        return status, answer

    def text(self, path: str) -> str:
        """A text answer of a 2xx (`?format=text`); ApiFailure otherwise."""
        status, raw = self.exchange("GET", path)
        if status >= 400:
            self._fail(status, path, json.loads(raw) if raw.startswith(b"{") else {})
        return raw.decode()

    def exchange(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """(HTTP status, the raw answer). Unreachable when nothing listens."""
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", "Accept: application/json",
                f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        message = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more
            try:
                sock = self._connect()
                sock.sendall(message)
                status, raw = self._response(sock)
                break
            except (FileNotFoundError, ConnectionRefusedError) as e:
                self.close()
                raise Unreachable(f"no controller answers at {self.where} ({e.strerror})") from None
            except (_Closed, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if attempt == 2 or method != "GET":  # an action is never sent twice
                    raise Unreachable(f"the controller at {self.where} closed the connection "
                                      f"({e or 'no answer'})") from None
            except TimeoutError:
                self.close()
                raise Unanswered(busy(self.where, self.timeout, self.socket_path
                                      and holder_beside(self.socket_path))) from None
            except OSError as e:
                self.close()
                raise Unreachable(f"cannot reach the controller at {self.where}: {e}") from None
        return status, raw

    def _response(self, sock: socket.socket) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self._buffer:
            self._read(sock)
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        size = int(headers.get("content-length", "0"))
        while len(self._buffer) < size:
            self._read(sock)
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _read(self, sock: socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed()
        self._buffer += chunk

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """The JSON answer of a 2xx; ApiFailure (its message and field) otherwise."""
        status, answer = self.request(method, path, body)
        if status >= 400:
            self._fail(status, path, answer)
        return answer

    def _fail(self, status: int, path: str, answer: object) -> None:
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        raise ApiFailure(status, error.get("message") or f"HTTP {status} from {path}",
                         error.get("field"))

    def get(self, path: str) -> dict:
        return self.call("GET", path)

    def post(self, path: str, body: dict | None = None, wait: float | None = None) -> dict:
        """`wait`: how long this request may take the controller, when longer than the
        client's timeout (a deployment's release check on a fleet)."""
        if wait is None or wait <= self.timeout:
            return self.call("POST", path, body or {})
        usual, self.timeout = self.timeout, wait
        if self._sock is not None:
            self._sock.settimeout(wait)
        try:
            return self.call("POST", path, body or {})
        finally:
            self.timeout = usual
            if self._sock is not None:
                self._sock.settimeout(usual)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class _Closed(Exception):
    """The server closed the connection before a whole answer."""


def remote(server: str, token_file: str | None) -> Client:
    """A client of `--server URL`, with the token read from --token-file (or ZERODOWN_TOKEN)."""
    token = os.environ.get("ZERODOWN_TOKEN")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            raise UsageError(f"--token-file {token_file}: {e.strerror}") from None
    if not token:
        raise UsageError("--server needs a token: --token-file FILE (from `zerodown token create "
                         "NAME` on the controller's machine) or ZERODOWN_TOKEN")
    return Client(url=server, token=token)
