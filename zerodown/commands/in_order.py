"""`zerodown exec --all`'s output: each host's block whole, in runtime.hosts' order, though
the hosts run at once (GNU parallel's --keep-order; pdsh's lines piped to `dshbak -c`).

    shown = InOrder(["app1", "app2", "app3"], sys.stdout.buffer)
    shown.write("app2", b"app2 | v2\\n")   # held: app1 has not ended
    shown.write("app1", b"app1 | v2\\n")   # app1 is first: shown at once
    shown.end("app1")                      # app2's held lines shown, app2 live from now

The first host not yet ended streams live, as a single host's command does; every other
host's output is held until the hosts before it ended. So a migration's progress on the
first host is seen as it goes, the blocks never interleave, and two runs list the hosts
in the same order (one can be compared with the other), not in the order they finished.
Nothing waits longer than the slowest host. What is held is kept in memory up to HELD
bytes per host, then in a temporary file.
"""

from __future__ import annotations

import tempfile
import threading
from typing import IO

HELD = 1 << 20  # bytes of a host's held output kept in memory before a temporary file


class InOrder:
    def __init__(self, hosts: list[str], out: IO[bytes]):
        self.hosts, self.out, self.at = list(hosts), out, 0  # hosts[at]: the one shown live
        self.held = {h: tempfile.SpooledTemporaryFile(max_size=HELD) for h in self.hosts[1:]}
        self.ended: set[str] = set()
        self.lock = threading.Lock()

    def write(self, host: str, data: bytes) -> None:
        if not data:
            return
        with self.lock:
            if self._live(host):
                self.out.write(data)
                self.out.flush()
            else:
                self.held[host].write(data)

    def end(self, host: str) -> None:
        """`host` has no more output: the next hosts' held output is shown, up to the first
        that has not ended (live from then on)."""
        with self.lock:
            self.ended.add(host)
            while self.at < len(self.hosts) and self.hosts[self.at] in self.ended:
                self.at += 1
                if self.at < len(self.hosts):
                    self._show(self.held.pop(self.hosts[self.at]))
            self.out.flush()

    def _live(self, host: str) -> bool:
        return self.at < len(self.hosts) and self.hosts[self.at] == host

    def _show(self, held) -> None:
        held.seek(0)
        while chunk := held.read(1 << 16):
            self.out.write(chunk)
        held.close()
