"""Request heads the proxy must not forward as they came (RFC 9110, RFC 9112).

The server's hot path checks the common shape in a few byte comparisons and
calls here only for the rare head that needs more: an absolute-form target
(`GET http://host/path HTTP/1.1`, what a client sends to a forward proxy) is
rewritten to origin-form with `Host` taken from it, as RFC 9112 section 3.2.2
asks of a recipient; anything else odd about the target is refused. A request
asking to upgrade to h2c loses the ask (without_h2c).
"""

from __future__ import annotations

import re

_HOST_LINES = re.compile(rb"\r\n[Hh][Oo][Ss][Tt][ \t]*:[^\r\n]*")
_ABSOLUTE = re.compile(rb"(?i:https?)://([^/?#\s]*)([^\s#]*)")
_AUTHORITY = re.compile(rb"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def origin_form(head: bytes, space: int, line_end: int) -> bytes:
    """`head` with an absolute-form target made origin-form and Host set from it;
    b"" if the target is neither (nor `*`, which the caller allows for OPTIONS).

    `space` is the offset of the space after the method, `line_end` of the
    request line's CRLF.
    """
    target_end = head.rfind(b" ", space + 1, line_end)
    m = _ABSOLUTE.fullmatch(head, space + 1, target_end)
    if m is None or _AUTHORITY.fullmatch(m.group(1)) is None:  # no userinfo (RFC 9110 4.2.4)
        return b""
    path = m.group(2) or b"/"
    if not path.startswith(b"/"):  # "?q" right after the authority
        path = b"/" + path
    line = head[:space + 1] + path + head[target_end:line_end]
    rest = _HOST_LINES.sub(b"", head[line_end:])
    return line + b"\r\nHost: " + m.group(1) + rest


# An Upgrade field naming h2c, whatever the case; without_h2c() reads the tokens exactly.
ASKS_H2C = re.compile(rb"\r\n(?i:upgrade)[ \t]*:[^\r\n]*(?i:h2c)").search


def without_h2c(head: bytes) -> bytes:
    """`head` (ending in the blank line) without its ask to upgrade to h2c (RFC 7540 3.2):
    the h2c token leaves Upgrade (the field goes when nothing is left), HTTP2-Settings goes,
    and Connection loses `HTTP2-Settings` (and `upgrade` when no other protocol is asked).

    RFC 9113 removed the upgrade, and a server that does not take it answers the request
    as HTTP/1.1 (RFC 9110 7.8), which is what the proxy does. Forwarded, the ask would let
    a backend that takes it switch the connection, and the proxy would pass the client's
    HTTP/2 through to it unread: requests past every check here ("h2c smuggling")."""
    lines = head[:-4].split(b"\r\n")
    kept, others = [lines[0]], False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"http2-settings":
            continue
        if key == b"upgrade":
            tokens = [t.strip() for t in value.split(b",")]
            left = [t for t in tokens if t and t.lower() != b"h2c"]
            others = others or bool(left)
            if left:
                kept.append(name + b": " + b", ".join(left))
            continue
        kept.append(line)
    drop = {b"http2-settings"} if others else {b"http2-settings", b"upgrade"}
    out = []
    for line in kept:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"connection":
            left = [t.strip() for t in value.split(b",") if t.strip() and t.strip().lower() not in drop]
            if not left:
                continue
            line = name + b": " + b", ".join(left)
        out.append(line)
    return b"\r\n".join(out) + b"\r\n\r\n"
