"""Per-revision counters for nginx, read from its access log.

Open-source nginx keeps no per-upstream counters, so the rendered config logs
one JSON object per request (see nginx_render._log_format): the revision,
status, upstream address(es) and request time. AccessLog reads the file
incrementally (from the offset it reached, whole lines only) into the same
Stats the embedded proxy keeps, so stats() has the embedded shape.

What nginx cannot tell: requests in flight (always 0 here, and
"in_flight_known": False says so) and latency of requests still running. A
request is counted once nginx has written its log line, which it does just
after the response went out: a client that has its response may, for a
moment, not be counted yet. A request nginx answered itself (503 for an empty
table) has no revision and is counted in "rejected".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host
from zerodown.proxy.metrics import Stats

MAX_READ = 64 * 1024 * 1024  # per call: a huge backlog is read over several calls


@dataclass
class AccessLog:
    path: str
    offset: int = 0
    inode: int | None = None
    revisions: dict[str, Stats] = field(default_factory=dict)
    backends: dict[str, Stats] = field(default_factory=dict)  # by upstream address
    rejected: int = 0
    damaged: int = 0  # lines that were not ours (a hand edit, a torn write)
    host: Host = LOCAL  # where nginx writes it

    def read(self) -> None:
        """Count the lines added since the last read."""
        if self.host.remote:  # asked of its host: no inode there, a shrunk file restarts
            if self.host.size(self.path) < self.offset:
                self.offset = 0
            chunk = (self.host.read_text(self.path, self.offset) or "").encode()
            self._lines(chunk)
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        if st.st_ino != self.inode or st.st_size < self.offset:  # rotated or truncated
            self.inode, self.offset = st.st_ino, 0
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(MAX_READ)
        self._lines(chunk)

    def _lines(self, chunk: bytes) -> None:
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next read
        for line in chunk[:end].splitlines():
            self._count(line)
        self.offset += end

    def _count(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
            revision, status = entry["rev"], int(entry["status"])
            seconds, upstream = float(entry["rt"]), entry["up"]
            tries = entry["ust"]
        except (ValueError, KeyError, TypeError):
            self.damaged += 1
            return
        if not revision:
            self.rejected += 1
            return
        stats = self.revisions.setdefault(revision, Stats())
        stats.record(status, seconds)
        stats.retries += tries.count(",")
        last_try = tries.split(",")[-1].strip()
        if status in (502, 503, 504) and last_try in ("", "-", "502", "504"):
            stats.errors += 1  # most likely nginx's own answer, not the backend's
        if upstream:
            address = upstream.split(",")[-1].strip()
            self.backends.setdefault(address, Stats()).record(status, seconds)


def stats_dict(log: AccessLog, service: str, version: int, weights: dict[str, float],
               ids: dict[str, tuple[str, str]]) -> dict:
    """The embedded proxy's stats() shape; `ids` maps address -> (backend id, revision)."""
    revisions = {}
    for name in {*log.revisions, *weights}:
        entry = log.revisions.get(name, Stats()).to_dict()
        revisions[name] = dict(entry, weight=weights.get(name, 0.0))
    backends = {}
    for address, stats in log.backends.items():
        backend_id, revision = ids.get(address, (address, ""))
        entry = stats.to_dict()
        entry.pop("buckets")
        entry.update(revision=revision, address=address)
        backends[backend_id] = entry
    return {"service": service, "version": version, "rejected": log.rejected,
            "in_flight_known": False, "revisions": revisions, "backends": backends}
