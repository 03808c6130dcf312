"""Tunables of the embedded proxy, with the defaults a demanding user expects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProxySettings:
    max_head_bytes: int = 32 * 1024      # larger request heads get 431
    header_timeout: float = 10.0         # a client must finish its head within this (408)
    keepalive_timeout: float = 60.0      # idle client connections are closed after this
    connect_timeout: float = 3.0         # upstream connect; a failure is retried elsewhere
    response_timeout: float = 60.0       # request sent -> first response byte (504)
    upstream_idle_timeout: float = 15.0  # pooled upstream connections idle longer are closed
    drain_timeout: float = 30.0          # in-flight requests of a removed backend may run this long
    max_conns_per_backend: int = 64      # bounded pool: excess requests queue, they do not open more
    retry_body_limit: int = 64 * 1024    # request bodies up to this are kept so a retry can resend them
    body_buffer_limit: int = 64 * 1024   # a body held waiting for a backend connection: past this its client's reading pauses
    discard_body_limit: int = 64 * 1024  # answered before its body ended: a rest up to this is read and dropped, the connection kept
    max_attempts: int = 3                # tries of one request across backends
    eject_base: float = 1.0              # passive health: first ejection, doubled per consecutive failure
    eject_max: float = 30.0
    shutdown_grace: float = 1.0          # idle keep-alive clients get this long to send one last request
    fd_reserve: int = 128                # descriptors kept from clients: admin, backends' checks, files
    max_admin_connections: int = 32      # more get 503 at once; they cannot starve the public side
    admin_timeout: float = 10.0          # an admin connection idle or slow this long is closed
    refuse_methods: str = "CONNECT,TRACE"  # answered 501, never forwarded ("" forwards every method)
    error_log_per_second: int = 10       # error lines a second at most; the rest are counted
    http2_max_streams: int = 100         # HTTP/2: streams a client may have open on one connection
    http2_window: int = 256 * 1024       # HTTP/2: request body bytes in flight per stream
    http2_max_body_bytes: int = 1 << 30  # HTTP/2: larger request bodies get 413

    def refused_methods(self) -> frozenset[bytes]:
        return frozenset(m.strip().upper().encode() for m in self.refuse_methods.split(",")
                         if m.strip())
