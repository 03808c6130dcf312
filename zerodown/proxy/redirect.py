"""The plain-HTTP listener of a TLS proxy (--redirect-http): every request gets 308 to https.

308, not 301: the client repeats the same method and body on the https URL. The
Location keeps the host the client asked for and its path and query, on the TLS
listener's port (left out when it is 443). A request without a usable Host gets
400: the proxy will not invent a name to send a client to.
"""

from __future__ import annotations

import asyncio
import re

MAX_HEAD = 16 * 1024
TIMEOUT = 10.0  # a connection that sends no whole head within this is closed
_REQUEST_LINE = re.compile(rb"^[A-Z]{1,20} (/[\x21-\x7e]*) HTTP/1\.[01]\r\n")
_HOST = re.compile(rb"\r\n[Hh][Oo][Ss][Tt][ \t]*:[ \t]*([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])"
                   rb"(?::\d{1,5})?[ \t]*\r\n")


def answer(head: bytes, tls_port: int) -> bytes:
    """The whole response to one request head (up to and including its blank line)."""
    line, host = _REQUEST_LINE.match(head), _HOST.search(head)
    if line is None or host is None:
        body = b"400 Bad Request: https is required, and a Host header to redirect to\n"
        return (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    port = b"" if tls_port == 443 else b":" + str(tls_port).encode()
    location = b"https://" + host.group(1) + port + line.group(1)
    return (b"HTTP/1.1 308 Permanent Redirect\r\nLocation: " + location
            + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class Redirector(asyncio.Protocol):
    """One connection of the redirect listener: read a head, answer, close."""

    def __init__(self, tls_port: int):
        self.tls_port = tls_port
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        asyncio.get_running_loop().call_later(TIMEOUT, transport.close)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 and len(self.buf) <= MAX_HEAD:
            return
        assert self.transport is not None
        self.transport.write(answer(self.buf[:end + 4] if end >= 0 else b"", self.tls_port))
        self.transport.close()
        self.buf = b""
