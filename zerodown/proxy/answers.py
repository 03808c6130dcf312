"""The proxy's own answers (not a backend's), as the bytes that go out: the public
listener's errors and refusals (exchange.py) and the admin API's responses (admin.py)."""

from __future__ import annotations

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
           413: "Payload Too Large", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


def answer(status: int, ctype: str, payload: bytes, keep: bool, head: bool = False) -> bytes:
    """A whole response; `head`: to a HEAD request (the length said, the payload not sent)."""
    return b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s" % (
        status, REASONS[status].encode(), ctype.encode(), len(payload),
        b"keep-alive" if keep else b"close", b"" if head else payload)


def refusal(status: int) -> bytes:
    """An empty answer that closes the connection (a request refused before routing)."""
    return b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % (
        status, REASONS[status].encode())
