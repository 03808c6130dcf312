"""Tunables of the embedded proxy, with the defaults a demanding user expects.

Each says what it bounds in its own words: `zerodown proxy --help` shows them, so the
flags and their meaning cannot drift apart (tests/unit/test_proxy_settings_help.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def tunable(default: Any, meaning: str) -> Any:
    return field(default=default, metadata={"help": meaning})


@dataclass(frozen=True)
class ProxySettings:
    max_head_bytes: int = tunable(32 * 1024, "larger request heads get 431")
    header_timeout: float = tunable(10.0, "seconds a client has to finish its request head (408)")
    keepalive_timeout: float = tunable(60.0, "idle client connections are closed after this")
    connect_timeout: float = tunable(3.0, "backend connect; a failure is retried elsewhere")
    response_timeout: float = tunable(
        60.0, "a backend's silence: from the last request byte it took (the head, a body "
              "piece, room made in its socket) to its first response byte, then retried "
              "elsewhere when safe, else 504, and the backend is ejected; and between two "
              "reads of its response (not while the client reads slowly), then the response "
              "is cut, no ejection")
    body_timeout: float = tunable(
        60.0, "a client sending a request body may pause this long while its backend "
              "has taken all it was given; then 408 (the backend is not blamed)")
    queue_timeout: float = tunable(
        3.0, "a request's wait for a backend connection (queued behind a full pool, or "
             "connecting); then it goes to another backend, else 503; never ejects")
    upstream_idle_timeout: float = tunable(
        15.0, "pooled backend connections idle longer are closed")
    drain_timeout: float = tunable(
        30.0, "in-flight requests of a removed backend may run this long")
    max_conns_per_backend: int = tunable(
        64, "bounded pool: excess requests queue, they do not open more")
    retry_body_limit: int = tunable(
        64 * 1024, "request bodies up to this are kept so a retry can resend them")
    body_buffer_limit: int = tunable(
        64 * 1024, "a body held waiting for a backend connection: past this its client's "
                   "reading pauses")
    discard_body_limit: int = tunable(
        64 * 1024, "answered before its body ended: a rest up to this is read and dropped, "
                   "the connection kept")
    max_attempts: int = tunable(3, "tries of one request across backends")
    eject_base: float = tunable(
        1.0, "passive health: a failing backend's first ejection, doubled per consecutive "
             "failure")
    eject_max: float = tunable(30.0, "passive health: the longest ejection")
    shutdown_grace: float = tunable(
        1.0, "at shutdown, idle keep-alive clients get this long to send one last request")
    fd_reserve: int = tunable(
        128, "descriptors kept from clients: admin, backends' checks, files")
    max_admin_connections: int = tunable(
        32, "more get 503 at once; they cannot starve the public side")
    admin_timeout: float = tunable(10.0, "an admin connection idle or slow this long is closed")
    refuse_methods: str = tunable(
        "CONNECT,TRACE", "answered 501, never forwarded ('' forwards every method)")
    error_log_per_second: int = tunable(
        10, "error lines a second at most; the rest are counted")
    http2_max_streams: int = tunable(
        100, "HTTP/2: streams a client may have open on one connection")
    http2_window: int = tunable(256 * 1024, "HTTP/2: request body bytes in flight per stream")
    http2_max_body_bytes: int = tunable(1 << 30, "HTTP/2: larger request bodies get 413")

    def refused_methods(self) -> frozenset[bytes]:
        return frozenset(m.strip().upper().encode() for m in self.refuse_methods.split(",")
                         if m.strip())
