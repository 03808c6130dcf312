"""Request heads the proxy must not forward as they came (RFC 9110, RFC 9112).

The server's hot path checks the common shape in a few byte comparisons and
calls here only for the rare head that needs more: an absolute-form target
(`GET http://host/path HTTP/1.1`, what a client sends to a forward proxy) is
rewritten to origin-form with `Host` taken from it, as RFC 9112 section 3.2.2
asks of a recipient; anything else odd about the target is refused.
"""

from __future__ import annotations

import re

HOST_LINE = re.compile(rb"\r\n[Hh][Oo][Ss][Tt][ \t]*:")
_HOST_LINES = re.compile(rb"\r\n[Hh][Oo][Ss][Tt][ \t]*:[^\r\n]*")
_ABSOLUTE = re.compile(rb"(?i:https?)://([^/?#\s]*)([^\s#]*)")
_AUTHORITY = re.compile(rb"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def host_lines(head: bytes) -> int:
    """How many Host field lines `head` has, whatever their case."""
    return len(HOST_LINE.findall(head))


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
