"""Where a chunked request body ends, found across reads.

llhttp validates chunked framing but cannot say at which byte of a read a
message ended; this scanner can, so that a request pipelined right behind a
chunked body is split off instead of being sent to the backend as body.
Input has been (or is being) validated by llhttp, so this only counts.
"""

from __future__ import annotations

SIZE, DATA, DATA_END, TRAILER = range(4)


class ChunkedEnd:
    __slots__ = ("state", "left", "line")

    def __init__(self) -> None:
        self.state = SIZE
        self.left = 0
        self.line = b""

    def feed(self, data: bytes) -> int:
        """The offset in `data` just past the body's last byte, or -1 if it goes on."""
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
                return -1
            line, self.line, i = self.line + data[i:j], b"", j + 1
            if self.state == TRAILER:
                if line in (b"", b"\r"):
                    return i
            else:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                self.state, self.left = (DATA, size) if size else (TRAILER, 0)
        return -1
