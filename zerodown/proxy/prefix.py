"""A service mounted under a path prefix, seen by its backend from `/` (kamal-proxy's default).

    stripped(b"GET /api/v1?q=1 HTTP/1.1\r\n...", b"/api")  -> b"GET /v1?q=1 HTTP/1.1\r\n..."
    header_line("/api")                                   -> b"X-Forwarded-Prefix: /api\r\n"

Pure, and only for a request services.py already matched to the prefix on a segment
boundary (hosts.HostTable: `/api` takes `/api`, `/api/x`, `/api?q`, never `/apix`), so
what follows the prefix is `/`, `?` or the space before the version: the target keeps
its leading `/` (`/api` -> `/`, `/api?q` -> `/?q`). The backend is told what was taken
off in `X-Forwarded-Prefix` (Traefik's, Spring's and ASP.NET's name for it), so an app
can write links and redirects that go back through the proxy; the one a client sends is
dropped with the other X-Forwarded-* it may not set (routing.strip_client_forwarded), and
the proxy's own goes in the forwarded headers it appends (server.py's tail).
"""

from __future__ import annotations


def normal(prefix: str) -> str:
    """`/api/` and `api` -> `/api`; `/` and `` -> `/` (as hosts.HostTable keys them)."""
    inner = prefix.strip("/")
    return "/" + inner if inner else "/"


def header_line(prefix: str) -> bytes:
    """What the backend is told was taken off (prefix: normal())."""
    return b"X-Forwarded-Prefix: " + prefix.encode() + b"\r\n"


def stripped(head: bytes, prefix: bytes) -> bytes:
    """`head` with `prefix` taken off its request target."""
    start = head.find(b" ") + 1
    end = start + len(prefix)
    slash = b"" if head[end] == 47 else b"/"  # 47: "/"; else "?" or " ": keep a root
    return b"".join((head[:start], slash, head[end:]))
