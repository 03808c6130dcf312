"""One pass over a request head: where it ends, and which of its lines need a closer look.

Compiled with the hot path (accel.py), this loop is C: it walks the head once from line
start to line start, looks each line's first byte up in a table, and reads further only
a line whose name could matter: a Host line (counted: RFC 9112 3.2 wants exactly one),
a header some routing rule matches on or an X-Forwarded-* the client may not set (`look`,
routing.Routes), a Cookie line (searched for the name of a cookie a rule matches on).
It replaced four passes the C library made over every head, each a Python-level call
walking it again (a regex for the end and the marked lines, a find for cookie names, a
find and a regex for Host lines): about 17,000 of a request's 39,500 instructions.

Field names compare case-insensitively, ASCII only, as HTTP's do (and `re`'s (?i) on bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # a machine integer to mypyc (a plain int when the module runs as Python)
    from mypy_extensions import i64

_CR: Final = 13
_LF: Final = 10
_H: Final = 104  # "h"
_C: Final = 99  # "c"
_COLON: Final = 58


class HeadMarks:
    """What a routing table looks at in a head (built once per table by routing.Routes)."""

    __slots__ = ("names", "initials", "cookies")

    def __init__(self, names: list[bytes], cookies: tuple[bytes, ...]) -> None:
        # Prefixes of the field names that set `look` (a wider net never misses)
        self.names: tuple[bytes, ...] = tuple(sorted({n.lower() for n in names if n}))
        self.cookies = cookies  # b"name=" of each cookie a rule matches on
        flags = bytearray(256)  # by a line's first byte | 32: may the line matter
        for name in self.names:
            flags[name[0] | 32] = 1
        flags[_H] = 1  # Host lines are always counted
        if cookies:
            flags[_C] = 1
        self.initials = bytes(flags)


def merged(every: list[HeadMarks]) -> HeadMarks:
    """Marks flagging what any of `every` flags: several services share a listener, and
    a head is scanned before its service is known (services.Services.remark)."""
    return HeadMarks([n for m in every for n in m.names],
                     tuple(sorted({c for m in every for c in m.cookies})))


def named(data: bytes, at: i64, name: bytes) -> bool:
    """Does `data` hold `name` (lower case) at `at`, in any case? (ASCII, as bytes.lower)"""
    n: i64 = len(name)
    if at + n > len(data):
        return False
    k: i64 = 0
    for k in range(n):
        c = data[at + k]
        if c != name[k] and not (65 <= c <= 90 and c + 32 == name[k]):
            return False
    return True


def holds(data: bytes, start: i64, end: i64, needle: bytes) -> bool:
    """Does `data[start:end]` hold `needle`? A loop here costs a fraction of a call to
    bytes.find (whose argument parsing alone outweighs a Cookie line's bytes)."""
    n: i64 = len(needle)
    if n == 0:
        return True
    first = needle[0]
    j: i64 = start
    stop: i64 = min(end, len(data)) - n
    k: i64 = 0
    while j <= stop:
        if data[j] == first:
            for k in range(1, n):
                if data[j + k] != needle[k]:
                    break
            else:
                return True
        j += 1
    return False


def _host_line(data: bytes, at: i64) -> bool:
    """Does the line at `at` name Host (`[Hh][Oo][Ss][Tt][ \\t]*:`)?"""
    if not named(data, at, b"host"):
        return False
    i: i64 = at + 4
    size: i64 = len(data)
    while i < size and (data[i] == 32 or data[i] == 9):
        i += 1
    return i < size and data[i] == _COLON


# A method: `[!#$%&'*+.^_`|~0-9A-Za-z-]` (RFC 9110 5.6.2's tchar), flagged by byte
_TOKEN: Final = bytes(1 if chr(b) in "!#$%&'*+.^_`|~-" or chr(b).isalnum() and b < 128 else 0
                      for b in range(256))


def usual_line(head: bytes, line_end: i64) -> bool:
    """Is the request line (`head[:line_end]`) `METHOD /target HTTP/1.0|1`, the target
    without space, CR or LF? Anything else goes the slow way (server._unusual_line)."""
    version: i64 = line_end - 9  # " HTTP/1.x"
    if version < 3 or head[version:line_end - 1] != b" HTTP/1.":
        return False
    minor = head[line_end - 1]
    if minor != 48 and minor != 49:  # "0" "1"
        return False
    i: i64 = 0
    while _TOKEN[head[i]]:
        i += 1
    if i == 0 or i + 1 >= version or head[i] != 32 or head[i + 1] != 47:  # " /"
        return False
    k: i64 = 0
    for k in range(i + 2, version):
        c = head[k]
        if c == 32 or c == _CR or c == _LF:
            return False
    return True


class HeadScan:
    """What one pass found in a request head; a client connection keeps one and
    `run`s it on each head it reads."""

    __slots__ = ("end", "look", "hosts", "host_at", "host_end", "line_end")

    def __init__(self) -> None:
        self.end: i64 = -1  # offset just past the blank line ending the head, -1: incomplete
        self.look = False  # a line names a marked header, or a Cookie line a rule's cookie
        self.hosts: i64 = 0  # Host lines, in any case (`[Hh][Oo][Ss][Tt][ \t]*:`)
        self.host_at: i64 = -1  # offset of the CRLF before the first `Host: ` written so, or -1
        self.host_end: i64 = -1  # offset of the CRLF that ends that line
        self.line_end: i64 = -1  # offset of the CRLF that ends the request line

    def run(self, data: bytes, marks: HeadMarks) -> i64:
        """Scan `data` (a head, and maybe what follows it); `end`, returned too.

        A line is what follows a CRLF, as `\r\n<name>` searched in the raw bytes was."""
        size: i64 = len(data)
        initials = marks.initials
        look = False
        hosts: i64 = 0
        host_at: i64 = -1
        host_end: i64 = -1
        line_end: i64 = -1
        cookie_line: i64 = -1  # a Cookie line's start, until its end is found
        last: i64 = size - 1
        end: i64 = -1
        i: i64 = 0
        p: i64 = 0
        while i < last:
            # Two bytes a step: a CRLF starts at i or at i + 1 only if data[i + 1] is LF or CR.
            b = data[i + 1]
            if b == _LF:
                if data[i] != _CR:
                    i += 2
                    continue
            elif b == _CR:
                if i + 2 >= size or data[i + 2] != _LF:
                    i += 2
                    continue
                i += 1
            else:
                i += 2
                continue
            if line_end < 0:
                line_end = i
            if host_at >= 0 and host_end < 0:
                host_end = i
            if cookie_line >= 0:  # the Cookie line ends here
                for needle in marks.cookies:
                    if holds(data, cookie_line, i, needle):
                        look = True
                cookie_line = -1
            p = i + 2
            if p < last and data[p] == _CR and data[p + 1] == _LF:
                end = p + 2
                break
            if p < size:
                c = data[p] | 32
                if initials[c]:
                    if c == _H and _host_line(data, p):
                        hosts += 1
                        if host_at < 0 and data[p:p + 6] == b"Host: ":
                            host_at = i
                    if not look:
                        for name in marks.names:
                            if name[0] | 32 == c and named(data, p, name):
                                look = True
                                break
                        if not look and c == _C and marks.cookies and named(data, p, b"cookie"):
                            cookie_line = p
            i = p
        self.end, self.look, self.hosts = end, look, hosts
        self.host_at, self.host_end, self.line_end = host_at, host_end, line_end
        return end
