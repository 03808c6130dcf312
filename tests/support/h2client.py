"""A small blocking HTTP/2 client over the `h2` library, for tests that need what curl
does not show: many streams on one connection, GOAWAY and RST_STREAM as they come, and
frames a well-behaved client would never send; and curl (nghttp2), run as users run it."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (ConnectionTerminated, DataReceived, RemoteSettingsChanged,
                       ResponseReceived, StreamEnded, StreamReset)
from h2.connection import ConnectionState
from h2.exceptions import ProtocolError


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None  # the RST_STREAM error code, if the server reset the stream


class H2Client:
    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 server_name: str | None = None, validate: bool = True, timeout: float = 10.0):
        raw = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
            raw = tls.wrap_socket(raw, server_hostname=server_name or host)
            assert raw.selected_alpn_protocol() == "h2", raw.selected_alpn_protocol()
        self.sock = raw
        self.authority = f"{server_name or host}:{port}"
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8",
                                               validate_outbound_headers=validate,
                                               normalize_outbound_headers=validate))
        self.h2.initiate_connection()
        self.answers: dict[int, Answer] = {}
        self.goaway: ConnectionTerminated | None = None
        self.closed = False
        self.server_settings: dict[int, int] = {}
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method: str = "GET", path: str = "/", body: bytes | None = None,
                headers: list[tuple[str, str]] = (), end: bool = True) -> int:
        """Open a stream; returns its id. `end=False` leaves the body open (send_body)."""
        sid = self.h2.get_next_available_stream_id()
        fields = [(":method", method), (":path", path), (":scheme", "https"),
                  (":authority", self.authority), *headers]
        self.h2.send_headers(sid, fields, end_stream=body is None and end)
        self.answers[sid] = Answer()
        if body is not None:
            self.send_body(sid, body, end)
        self.flush()
        return sid

    def send_body(self, sid: int, body: bytes, end: bool = True) -> None:
        while body:
            room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if room <= 0:
                self.read_once()
                continue
            self.h2.send_data(sid, body[:room])
            body = body[room:]
            self.flush()
        if end:
            self.h2.end_stream(sid)
        self.flush()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_once(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return
        try:
            events = self.h2.receive_data(data)
        except ProtocolError:
            self.closed = True
            return
        for e in events:
            if isinstance(e, ResponseReceived):
                a = self.answers[e.stream_id]
                a.headers = {k: v for k, v in e.headers if not k.startswith(":")}
                a.status = int(dict(e.headers)[":status"])
            elif isinstance(e, DataReceived):
                self.answers[e.stream_id].body += e.data
                self.h2.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, StreamEnded):
                self.answers[e.stream_id].ended = True
            elif isinstance(e, StreamReset):
                if e.stream_id in self.answers:
                    self.answers[e.stream_id].reset = e.error_code
            elif isinstance(e, ConnectionTerminated):
                self.goaway = e
                if e.error_code == 0:  # graceful (RFC 9113 6.8): the streams it names go on;
                    self.h2.state_machine.state = ConnectionState.CLIENT_OPEN  # h2 ends them
            elif isinstance(e, RemoteSettingsChanged):
                self.server_settings.update({k: v.new_value for k, v in e.changed_settings.items()})
        self.flush()

    def wait(self, until, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if self.closed:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("HTTP/2 answers did not come in time")
            self.read_once()

    def wait_all(self, sids, timeout: float = 10.0) -> list[Answer]:
        self.wait(lambda: all(self.answers[s].ended or self.answers[s].reset is not None
                              for s in sids), timeout)
        return [self.answers[s] for s in sids]

    def get(self, path: str = "/", **kw) -> Answer:
        return self.wait_all([self.request("GET", path, **kw)])[0]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


CURL = shutil.which("curl")


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CURL, "-sS", "--max-time", "10", *args], capture_output=True,
                          text=True, timeout=20)
