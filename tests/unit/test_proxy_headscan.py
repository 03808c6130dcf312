"""headscan.py against the regexes and finds it replaced, on many heads: the same answers
(a wider `look` where the old one was wider only where a rule could not match), and the
Host lines counted wherever they are."""

import random
import re

from zerodown.proxy.headscan import HeadMarks, HeadScan, holds, named, usual_line

# What the hot path ran before, as it was written
_OLD_USUAL = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ /[^ \r\n]* HTTP/1\.[01]\r\n").match
_FORWARDED = rb"x-forwarded-(?:proto|host|prefix)"
NAMES = [b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix", b"X-Canary", b"Tenant"]
COOKIES = (b"beta=", b"zd=")
_OLD_MARK = re.compile(b"\r\n(?:\r\n|(?i:" + b"|".join([_FORWARDED, b"X\\-Canary", b"Tenant"]) + b"))").search
_COOKIE_LINE = re.compile(rb"\r\n(?i:cookie)[^\r\n]*")
_HOST_LINE = re.compile(rb"\r\n[Hh][Oo][Ss][Tt][ \t]*:")


def host_lines(head: bytes) -> int:
    return len(_HOST_LINE.findall(head))


def old_end(data: bytes) -> int:
    m = _OLD_MARK(data)
    if m is None:
        return -1
    end = data.find(b"\r\n\r\n", m.start())
    return end + 4 if end >= 0 else -1


def old_marked(head: bytes) -> bool:
    """A marked header line in the head (the old scan's first answer; its cookie answer
    was any `name=` anywhere, which the new one narrows to Cookie lines)."""
    m = _OLD_MARK(head)
    return m is not None and head[m.start() + 2] != 13


def in_cookie_lines(head: bytes) -> bool:
    return any(c in line for line in _COOKIE_LINE.findall(head) for c in COOKIES)


LINES = [b"Host: a", b"host: b", b"HOST :c", b"Host\t: d", b"Hostx: e", b"Hos: f", b"X-Canary: 1",
         b"x-canary-2: y", b"X-FORWARDED-PROTO: https", b"x-forwarded-for: 1", b"Cookie: a=1; beta=y",
         b"cookie: zd=4", b"Cookie: a=1", b"Connection: keep-alive", b"Accept: */*", b"Tenant: t",
         b"Referer: /beta=1", b"X-A: \rb", b"\tfolded", b"", b"H", b"c", b"X-B: a\r", b"Y: \n\r",
         b"Z:\r\r", b"W: \n", b"V: ab", b"U: abc"]
REQUEST_LINES = [b"GET / HTTP/1.1", b"GET /a?b=c HTTP/1.0", b"POST /x HTTP/1.1", b"GET * HTTP/1.1",
                 b"GET http://h/ HTTP/1.1", b"GET /a b HTTP/1.1", b"GET / HTTP/2.0", b"GET / HTTP/1.2",
                 b"G@T / HTTP/1.1", b" GET / HTTP/1.1", b"GET /\r HTTP/1.1", b"GET / HTTP/1.1 ",
                 b"M-SEARCH /x HTTP/1.1", b"GET  / HTTP/1.1", b"GET /HTTP/1.1", b"A / HTTP/1.1"]


def heads(n: int) -> list[bytes]:
    rng = random.Random(7)
    out = []
    for _ in range(n):
        lines = [rng.choice(REQUEST_LINES)] + rng.sample(LINES, rng.randrange(0, 6))
        data = b"\r\n".join(lines) + b"\r\n\r\n" + rng.choice([b"", b"X-Canary: 1\r\n\r\n", b"beta=1"])
        out.append(data)
        out.append(data[:rng.randrange(len(data))])  # not all there yet
    return out


MARKS = HeadMarks(NAMES, COOKIES)


def test_the_scan_answers_as_the_regexes_it_replaced():
    for data in heads(3000):
        check(data)


def check(data: bytes) -> None:
    scan = HeadScan()
    end = scan.run(data, MARKS)
    assert end == old_end(data)
    if end < 0:  # what it saw so far: a marked line is said at once (test_routing too)
        assert scan.hosts == host_lines(data)
        assert scan.look or not old_marked(data)
        return
    head = data[:end]
    assert scan.look == (old_marked(head) or in_cookie_lines(head))
    assert scan.hosts == host_lines(head)
    assert scan.host_at == head.find(b"\r\nHost: ")
    if scan.host_at >= 0:
        assert scan.host_end == head.find(b"\r\n", scan.host_at + 8)
    assert scan.line_end == head.find(b"\r\n")
    assert usual_line(head, scan.line_end) == (_OLD_USUAL(head) is not None)


def test_an_incomplete_head_has_no_end_and_says_what_it_saw_so_far():
    scan = HeadScan()
    assert scan.run(b"GET / HTTP/1.1\r\nX-Canary: 1\r\nHost: a\r\n", MARKS) == -1
    assert scan.look and scan.hosts == 1
    for data in (b"", b"\r", b"\r\n", b"GET / HTTP/1.1\r\n\r", b"GET / HTTP/1.1\r\nHost: a\r\n"):
        assert scan.run(data, MARKS) == -1


def test_a_host_line_in_another_case_is_counted_before_the_exact_one_too():
    scan = HeadScan()
    scan.run(b"GET / HTTP/1.1\r\nhOST: evil\r\nHost: good\r\n\r\n", MARKS)
    assert scan.hosts == 2


def test_a_table_without_rules_looks_only_for_client_forwarded_headers():
    marks = HeadMarks(NAMES[:3], ())
    scan = HeadScan()
    scan.run(b"GET / HTTP/1.1\r\nCookie: beta=y\r\nX-Canary: 1\r\n\r\n", marks)
    assert not scan.look
    scan.run(b"GET / HTTP/1.1\r\nX-Forwarded-Host: evil\r\n\r\n", marks)
    assert scan.look


def test_named_is_ascii_case_insensitive_only():
    assert named(b"\r\nX-CaNaRy", 2, b"x-canary")
    assert not named(b"\r\nX-Cana", 2, b"x-canary")  # past the end
    assert not named(b"x_canary", 0, b"x-canary")
    assert not named(b"\xd8-canary", 0, b"x-canary")  # no Latin-1 folding


def test_holds_finds_a_needle_only_inside_the_span():
    data = b"Cookie: a=1; beta=y\r\nbeta=2"
    assert holds(data, 0, 19, b"beta=")
    assert not holds(data, 0, 16, b"beta=")  # cut off by the span's end
    assert not holds(data, 14, 19, b"beta=")
    assert holds(data, 21, 99, b"beta=")  # a span past the end stops at the end
    assert not holds(data, 0, 19, b"zd=") and holds(data, 0, 0, b"")
    for needle in (b"a=1", b"bet", b"y", b"Cookie: a=1; beta=y"):
        assert holds(data, 0, 19, needle) == (data.find(needle, 0, 19) >= 0)
