"""`zerodown logs` on a fleet (runtime: ssh): the instances' logs read on their hosts.

    zerodown logs                     every running instance, merged in time order
    zerodown logs --host app2         only app2's instances
    zerodown logs r2-s1 --follow      one instance, followed

Each line is prefixed with its host and instance (`app2 shop-r2-s1 | ...`, as Kamal's
`app logs` does). Every host is asked at once, all its instances' logs in one call over
its SSH connection (<state_dir>/services/<service>/logs/<instance>.log there). A host
that does not answer is named on stderr and the others are shown; following, each host
is followed by a thread of its own, so a host cut off holds up no other, and is named
again when it answers again.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from zerodown import log_lines
from zerodown.hosts import files
from zerodown.errors import RuntimeFailure, UsageError

FOLLOW_POLL = 0.3
READ_TIMEOUT = 5.0     # one host's answer to one read
TAIL_BYTES = 400       # -n N without --since reads about N × this from each log's end


@dataclass(frozen=True)
class RemoteLog:
    host: str
    instance: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.host} {self.instance}"


def remote_logs(runtime, instances: list[tuple[str, str]], only: str | None,
                host: str | None) -> list[RemoteLog]:
    """The logs to read: (name, host it runs on: InstanceRow.host) of the store's
    instances, filtered by an instance name (shop-r2-s0 or r2-s0) and a host (one of
    runtime.hosts, or one an instance still runs on though no longer listed); UsageError
    naming what would be valid."""
    known = list(dict.fromkeys([*runtime.names, *(on for _, on in instances)]))
    if host is not None and host not in known:
        raise UsageError(f"--host {host!r} is not one of runtime.hosts, nor a host an "
                         f"instance runs on ({', '.join(known)})")
    logs = [RemoteLog(on, name, f"{runtime.remote_dir}/logs/{name}.log")
            for name, on in instances]
    if only is not None:
        matches = [l for l in logs if l.instance == only] or \
            [l for l in logs if l.instance.endswith("-" + only)]
        if len(matches) != 1:
            what = "matches several" if matches else "is not an instance"
            names = ", ".join(l.instance for l in logs[-12:]) or "none yet"
            raise UsageError(f"{only!r} {what} (known: {names})")
        logs = matches
    if host is not None:
        logs = [l for l in logs if l.host == host]
    if not logs:
        raise UsageError(f"no instance{' on ' + host if host else ''} runs "
                         f"(`zerodown logs --all` shows stopped ones' logs)")
    return logs


def by_host(logs: list[RemoteLog]) -> dict[str, list[RemoteLog]]:
    out: dict[str, list[RemoteLog]] = {}
    for log in logs:
        out.setdefault(log.host, []).append(log)
    return out


def read(runtime, host: str, logs: list[RemoteLog], offsets: dict[str, int]
         ) -> dict[str, tuple[int, int, bytes]]:
    """{label: (where the read started, where it ended, bytes)} for one host's logs, in
    one call (zerodown/hosts/files.py read_chunks, run there by the agent)."""
    chunks = runtime.host_named(host).call("read_chunks", [[l.path, offsets[l.label]] for l in logs],
                                      timeout=READ_TIMEOUT)
    return {l.label: (begun, end, text.encode()) for l, (begun, end, text) in zip(logs, chunks)}


def show(runtime, logs: list[RemoteLog], lines: int | None, after: float | None,
         follow: bool, out=None, err=None) -> int:
    """Print the logs merged in time order (then follow them); 1 if a host did not answer
    and was left out (without --follow)."""
    out = out or sys.stdout.buffer
    err = err or sys.stderr
    # the whole log (its rotated part first: files.read_log), or enough of its end for -n
    start = -max(65536, lines * TAIL_BYTES) if lines and after is None else -files.MAX_READ
    offsets = {l.label: start for l in logs}
    hosts = by_host(logs)
    texts: dict[str, list[bytes]] = {}
    missing: list[str] = []

    def first(host: str):
        try:
            return host, read(runtime, host, hosts[host], offsets)
        except RuntimeFailure as e:
            return host, e
    with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
        for host, got in pool.map(first, list(hosts)):
            if isinstance(got, RuntimeFailure):
                missing.append(host)
                print(f"zerodown logs: {got}; {host}'s instances are left out", file=err,
                      flush=True)
                continue
            for label, (begun, end, data) in got.items():
                offsets[label] = end
                part = data.splitlines(keepends=True)
                if begun > 0:  # read from inside the file (-n): its first line may be cut
                    part = part[1:]
                texts[label] = log_lines.since(part, after)
    shown = log_lines.merged(texts) if texts else []
    if lines is not None:
        shown = shown[-lines:] if lines else []
    out.write(b"".join(shown))
    out.flush()
    if follow:
        width = max(len(l.label) for l in logs)
        return _follow(runtime, hosts, offsets, set(missing), width, out, err)
    return 1 if missing else 0


def _follow(runtime, hosts: dict[str, list[RemoteLog]], offsets: dict[str, int],
            silent: set[str], width: int, out, err) -> int:
    """One thread per host, each printing its instances' new lines as they come."""
    lock, stop = threading.Lock(), threading.Event()
    partial = {label: b"" for label in offsets}

    def one(host: str) -> None:
        quiet = host in silent  # named already: say so again only when it answers
        while not stop.is_set():
            try:
                got = read(runtime, host, hosts[host], offsets)
            except RuntimeFailure as e:
                if not quiet:
                    with lock:
                        print(f"zerodown logs: {e}; following the other hosts", file=err,
                              flush=True)
                quiet = True
                stop.wait(FOLLOW_POLL)
                continue
            if quiet:
                with lock:
                    print(f"zerodown logs: {host} answers again", file=err, flush=True)
                quiet = False
            wrote = []
            for label, (begun, end, data) in got.items():
                if begun < offsets[label]:
                    partial[label] = b""  # truncated under us: started over
                offsets[label] = end
                *whole, partial[label] = (partial[label] + data).split(b"\n")
                wrote += [log_lines.prefixed(label, line + b"\n", width) for line in whole]
            if wrote:
                with lock:
                    out.write(b"".join(wrote))
                    out.flush()
            else:
                stop.wait(FOLLOW_POLL)

    threads = [threading.Thread(target=one, args=(h,), name=f"logs {h}", daemon=True)
               for h in hosts]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.2)
    except KeyboardInterrupt:
        stop.set()  # then cli.py: `interrupted`, exit 130
        raise
    return 0
