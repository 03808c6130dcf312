"""Where a chunked request body ends, found across reads.

llhttp validates chunked framing but cannot say at which byte of a read a
message ended; this scanner can, so that a request pipelined right behind a
chunked body is split off instead of being sent to the backend as body.
It runs before llhttp sees the bytes, so it checks what it reads itself: a
size line that is not hex (an HTTP/2 preface, garbage) or is too long is an
answer (`BAD`), never an exception.
"""

from __future__ import annotations

SIZE, DATA, DATA_END, TRAILER = range(4)
BAD = -2               # feed(): the framing is broken; the request gets a 400
MAX_LINE = 4096        # a size line with its extensions, or a trailer line
MAX_SIZE_DIGITS = 16   # llhttp's bound too: a chunk size fits 64 bits
_HEX = frozenset(b"0123456789abcdefABCDEF")


def chunk_size(line: bytes) -> int:
    """The size a chunk-size line announces, or BAD. `1*HEXDIG [BWS ";" ext]`."""
    digits = line.split(b";", 1)[0].rstrip(b" \t")
    if not digits or len(digits) > MAX_SIZE_DIGITS or not _HEX.issuperset(digits):
        return BAD
    return int(digits, 16)


class ChunkedEnd:
    __slots__ = ("state", "left", "line")

    def __init__(self) -> None:
        self.state = SIZE
        self.left = 0
        self.line = b""

    def feed(self, data: bytes) -> int:
        """The offset in `data` just past the body's last byte, -1 if it goes on, BAD if broken."""
        i, n = 0, len(data)
        while i < n:
            if self.state in (DATA, DATA_END):
                take = min(self.left, n - i)
                i += take
                self.left -= take
                if self.left == 0:
                    self.state, self.left = (DATA_END, 2) if self.state == DATA else (SIZE, 0)
                continue
            j = data.find(b"\n", i)
            if j < 0:
                self.line += data[i:]
                return BAD if len(self.line) > MAX_LINE else -1
            line, self.line, i = self.line + data[i:j], b"", j + 1
            if len(line) > MAX_LINE:
                return BAD
            if line.endswith(b"\r"):
                line = line[:-1]
            if self.state == TRAILER:
                if not line:
                    return i
            else:
                size = chunk_size(line)
                if size == BAD:
                    return BAD
                self.state, self.left = (DATA, size) if size else (TRAILER, 0)
        return -1
