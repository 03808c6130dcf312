"""A seeded corpus of malformed HTTP/1.1 requests: mutations of valid ones.

`corpus(seed, n)` gives the same n payloads for the same seed, each with a
marker (`/fuzz-<i>`) in its target so a test can tell whether a refused one
reached the backend. The mutations are the shapes parsers get wrong: chunk
sizes, folded headers, bad bytes, bare LF, HTTP/2 prefaces, huge lines,
repeated framing headers, truncations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass(frozen=True)
class Case:
    index: int
    mutations: tuple[str, ...]
    payload: bytes

    @property
    def marker(self) -> bytes:
        return b"/fuzz-%d " % self.index


def _bases(i: int) -> list[bytes]:
    target = b"/fuzz-%d" % i
    return [
        b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n",
        b"POST " + target + b" HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world",
        b"POST " + target + b" HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ]


def _chunk_size(r: random.Random, p: bytes) -> bytes:
    bad = r.choice([b"zz", b"-1", b"0x5", b"5 5", b"FFFFFFFFFFFFFFFFFF", b"", b" 5", b"5\x00",
                    b"\xff", b"5;" + b"e" * 5000, b"PRI * HTTP/2.0", b"+5"])
    return p.replace(b"\r\n5\r\n", b"\r\n" + bad + b"\r\n", 1) if b"\r\n5\r\n" in p else p + bad


def _fold(r: random.Random, p: bytes) -> bytes:
    i = p.find(b"\r\n")
    return p[:i] + r.choice([b"\r\n X-Folded: 1", b"\r\n\tHost: other", b"\r\nX-A: 1\r\n b"]) + p[i:]


def _bad_byte(r: random.Random, p: bytes) -> bytes:
    i = r.randrange(len(p))
    return p[:i] + bytes([r.choice([0, 1, 8, 10, 13, 127, 128, 255, r.randrange(256)])]) + p[i + 1:]


def _bare_lf(r: random.Random, p: bytes) -> bytes:
    spots = [i for i in range(len(p) - 1) if p[i:i + 2] == b"\r\n"]
    i = r.choice(spots) if spots else 0
    return p[:i] + p[i + 1:]


def _preface(r: random.Random, p: bytes) -> bytes:
    return r.choice([PREFACE + p, PREFACE, p.replace(b"HTTP/1.1", b"HTTP/2.0", 1)])


def _huge_line(r: random.Random, p: bytes) -> bytes:
    big = b"a" * r.choice([5000, 33_000, 70_000])
    i = p.find(b"\r\n")
    return r.choice([p[:i] + b"\r\nX-Big: " + big + p[i:], p.replace(b" HTTP/1.1", big + b" HTTP/1.1", 1)])


def _duplicate(r: random.Random, p: bytes) -> bytes:
    i = p.find(b"\r\n")
    extra = r.choice([b"Host: u", b"host: t", b"Content-Length: 3", b"Transfer-Encoding: chunked",
                      b"Content-Length: 11", b"Transfer-Encoding: gzip"])
    return p[:i] + b"\r\n" + extra + p[i:]


def _truncate(r: random.Random, p: bytes) -> bytes:
    return p[:r.randrange(1, len(p))]


def _target(r: random.Random, p: bytes) -> bytes:
    i = p.find(b" ")
    return p[:i + 1] + r.choice([b"http://t", b"http://user@t", b"*", b"ftp://t", b"HTTP://T:80",
                                 b"http://[::1]:8080", b"//t", b""]) + p[i + 1:]


def _method(r: random.Random, p: bytes) -> bytes:
    i = p.find(b" ")
    return r.choice([b"CONNECT", b"TRACE", b"G\x00T", b"", b"get", b"PRI"]) + p[i:]


MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "chunk-size": _chunk_size, "fold": _fold, "bad-byte": _bad_byte, "bare-lf": _bare_lf,
    "preface": _preface, "huge-line": _huge_line, "duplicate": _duplicate,
    "truncate": _truncate, "target": _target, "method": _method,
}


def corpus(seed: int, n: int) -> list[Case]:
    r = random.Random(seed)
    names = sorted(MUTATIONS)
    cases = []
    for i in range(n):
        payload = r.choice(_bases(i))
        chosen = tuple(r.choice(names) for _ in range(r.choice([1, 1, 2, 3])))
        for name in chosen:
            payload = MUTATIONS[name](r, payload)
        cases.append(Case(i, chosen, payload))
    return cases
