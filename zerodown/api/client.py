"""The CLI's side of the API: HTTP/1.1 over the controller's unix socket, or over TCP
with a bearer token (`zerodown --server URL --token-file F ...`).

Imported by `zerodown status` before anything else, so it imports nothing heavy
(no yaml, sqlite or asyncio): that keeps a status round trip near 50 ms.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Callable

from zerodown.errors import UsageError, ZerodownError
from zerodown.socket_path import short

TIMEOUT = 30.0
# How long the controller may take to answer "are you there" (GET /api/v1/status, answered
# from its memory in milliseconds): past it, it is stopped or its threads are held.
PROBE = 5.0
# A patient request's read is a slice this long: between two, its patience is asked.
LOOK = 1.0


def state_dir_of(file: str, state_dir: str | None) -> str:
    """The state dir as Controller computes it: --state-dir, else .zerodown beside the file."""
    default = os.path.join(os.path.dirname(os.path.abspath(file)), ".zerodown")
    return os.path.abspath(state_dir or default)


class Unreachable(ZerodownError):
    """No controller answers where we looked (not started, or it died)."""


class Unanswered(Unreachable):
    """Connected, and no answer within the client's timeout: something listens (a busy
    controller or proxy), so starting another will not help, nor will asking again at once."""


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
        # (method, path) -> the request's patience (api/patience.py), called each LOOK
        # seconds its answer is not there yet and raising to stop waiting; set by the
        # command line (commands/connect.py). None: an answer is waited for `timeout`.
        self.patient: Callable[[str, str], Callable[[], None]] | None = None
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
                assert self.socket_path is not None  # Client() is given one of the two
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(short(self.socket_path))
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

    def request(self, method: str, path: str, body: dict | None = None,
                patience: Callable[[], None] | None = None) -> tuple[int, dict]:
        """(HTTP status, the JSON answer). Unreachable when nothing listens."""
        status, raw = self.exchange(method, path, body, patience)
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

    def exchange(self, method: str, path: str, body: dict | None = None,
                 patience: Callable[[], None] | None = None,
                 patient: bool = True) -> tuple[int, bytes]:
        """(HTTP status, the raw answer). Unreachable when nothing listens. `patience`:
        asked each LOOK seconds the answer is not there (else self.patient's, unless not
        `patient`); it raises to stop waiting."""
        if patience is None and patient and self.patient is not None:
            patience = self.patient(method, path)
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
                sock.settimeout(self.timeout if patience is None else min(LOOK, self.timeout))
                sock.sendall(message)
                status, raw = self._response(sock, patience)
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
                from zerodown.api.busy import busy, holder_beside  # only once unanswered
                raise Unanswered(busy(self.where, self.timeout, holder_beside(self.socket_path)
                                      if self.socket_path else None)) from None
            except ZerodownError:  # its patience ran out: the answer, if any, is not read
                self.close()
                raise
            except OSError as e:
                self.close()
                raise Unreachable(f"cannot reach the controller at {self.where}: {e}") from None
        return status, raw

    def _response(self, sock: socket.socket,
                  patience: Callable[[], None] | None) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self._buffer:
            self._read(sock, patience)
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        size = int(headers.get("content-length", "0"))
        while len(self._buffer) < size:
            self._read(sock, patience)
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _read(self, sock: socket.socket, patience: Callable[[], None] | None) -> None:
        while True:
            try:
                chunk = sock.recv(65536)
                break
            except TimeoutError:
                if patience is None:
                    raise
                patience()
        if not chunk:
            raise _Closed()
        self._buffer += chunk

    def call(self, method: str, path: str, body: dict | None = None,
             patience: Callable[[], None] | None = None) -> dict:
        """The JSON answer of a 2xx; ApiFailure (its message and field) otherwise."""
        status, answer = self.request(method, path, body, patience)
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

    def post(self, path: str, body: dict | None = None,
             patience: Callable[[], None] | None = None) -> dict:
        """`patience`: this request's (api/patience.py: one the controller may take minutes
        on, a deployment's release check on a fleet, told from a controller stopped)."""
        return self.call("POST", path, body or {}, patience)

    def alive(self) -> None:
        """Ask for the status, answered within PROBE seconds by a controller that runs:
        Unanswered past that (its process stopped, or its threads held), Unreachable when
        nothing listens."""
        usual, self.timeout = self.timeout, min(self.timeout, PROBE)
        try:
            self.exchange("GET", "/api/v1/status", patient=False)
        finally:
            self.timeout = usual

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
