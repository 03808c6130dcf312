"""Regexes that survive HAProxy's map files and its CLI (haproxy_render's rule maps).

A map line and a CLI command split on blanks, and the CLI also on ';' : every such
byte becomes \\xHH, which PCRE reads as the same literal character.
"""

from __future__ import annotations

_UNSAFE = set(" \t;#\\\"'\r\n")


def literal_regex(text: str) -> str:
    """A regex matching `text` literally, with no blank, ';' or quote in it."""
    return "".join(c if c.isalnum() or c in "_-" else _hex(c) for c in text)


def cli_safe_regex(regex: str) -> str:
    """The same regex with blanks and CLI-special characters written as escapes."""
    out, i = [], 0
    while i < len(regex):
        c = regex[i]
        if c == "\\" and i + 1 < len(regex):
            nxt = regex[i + 1]
            out.append(_hex(nxt) if nxt in _UNSAFE else c + nxt)  # \; -> \x3b: still literal
            i += 2
            continue
        out.append(_hex(c) if c in _UNSAFE else c)
        i += 1
    return "".join(out)


def _hex(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 256 else f"\\x{{{code:x}}}"
