"""The CLI's side of the API: http.client over the controller's unix socket, or over
TCP with a bearer token (`zerodown --server URL --token-file F ...`).

Imported by `zerodown status` before anything else, so it imports nothing heavy
(no yaml, sqlite or asyncio): that keeps a status round trip near 50 ms.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from urllib.parse import urlsplit

from zerodown.errors import UsageError, ZerodownError

TIMEOUT = 30.0


def state_dir_of(file: str, state_dir: str | None) -> str:
    """The state dir as Controller computes it: --state-dir, else .zerodown beside the file."""
    default = os.path.join(os.path.dirname(os.path.abspath(file)), ".zerodown")
    return os.path.abspath(state_dir or default)


class Unreachable(ZerodownError):
    """No controller answers where we looked (not started, or it died)."""


class ApiFailure(ZerodownError):
    """The controller answered with an error: its message, HTTP status and field."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field
        # bad requests and actions the state refuses are usage errors (retrying will not help)
        self.exit_code = 2 if status in (400, 401, 404, 405, 409) else 1


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Client:
    """Client(socket_path=...) on this machine, or Client(url=..., token=...)."""

    def __init__(self, socket_path: str | None = None, url: str | None = None,
                 token: str | None = None, timeout: float = TIMEOUT):
        self.socket_path, self.url, self.token, self.timeout = socket_path, url, token, timeout
        self.remote = url is not None
        self._conn: http.client.HTTPConnection | None = None

    @property
    def where(self) -> str:
        return self.url or f"unix:{self.socket_path}"

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.url is None:
                self._conn = _UnixConnection(self.socket_path, self.timeout)
            else:
                parts = urlsplit(self.url if "//" in self.url else "http://" + self.url)
                if parts.scheme == "https":
                    self._conn = http.client.HTTPSConnection(parts.netloc, timeout=self.timeout)
                else:
                    self._conn = http.client.HTTPConnection(parts.netloc, timeout=self.timeout)
        return self._conn

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(HTTP status, the JSON answer). Unreachable when nothing listens."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more
            conn = self._connection()
            try:
                conn.request(method, path, data, headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (FileNotFoundError, ConnectionRefusedError) as e:
                self.close()
                raise Unreachable(f"no controller answers at {self.where} ({e.strerror})") from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if attempt == 2:
                    raise Unreachable(f"the controller at {self.where} closed the connection "
                                      f"({e})") from None
            except OSError as e:
                self.close()
                raise Unreachable(f"cannot reach the controller at {self.where}: {e}") from None
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            raise ApiFailure(response.status, f"the controller at {self.where} answered "
                                              f"{response.status} with no JSON") from None
        return response.status, answer

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """The JSON answer of a 2xx; ApiFailure (its message and field) otherwise."""
        status, answer = self.request(method, path, body)
        if status >= 400:
            error = answer.get("error") if isinstance(answer, dict) else None
            error = error if isinstance(error, dict) else {}
            raise ApiFailure(status, error.get("message") or f"HTTP {status} from {path}",
                             error.get("field"))
        return answer

    def get(self, path: str) -> dict:
        return self.call("GET", path)

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.call("POST", path, body or {})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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
