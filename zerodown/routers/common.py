"""What every router driver does the same way: one writer, log tails,
waiting on the process it started."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from dataclasses import replace
from pathlib import Path

from zerodown.errors import HostFailure, ListenTaken, RouterError
from zerodown.hosts.listeners import holders
from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host
from zerodown.socket_path import UNIX_PATH_MAX, short
from zerodown.tls_config import TlsSettings

TAIL_LINES = 15
# an address as the load balancers say one they could not bind (the proxy's "cannot listen
# on 127.0.0.1:8080", nginx's "bind() to 127.0.0.1:8080", HAProxy's "for [127.0.0.1:8080]")
_ADDRESS_SAID = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]*\]|\*):(\d{1,5})\b")


@contextmanager
def locked(lock: threading.RLock, path: str | os.PathLike) -> Iterator[None]:
    """One writer at a time: threads of this process by `lock`, processes by flock on `path`."""
    with lock, open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def log_tail(path: str | os.PathLike, lines: int = TAIL_LINES, host: Host = LOCAL) -> str:
    """The end of a log on `host`, quoted for an error message."""
    return f"last lines of {path}:\n" + "\n".join(f"  | {l}" for l in host.tail(str(path), lines))


def left_serving(running: bool, who: str, listen: str) -> str:
    """What a refused configuration or a failed start leaves, said as it is: the running
    load balancer on its previous configuration, or (a first start, or after a crash)
    nothing at all — never "the previous one stays" when there is none."""
    if running:
        return f"the running {who} keeps its previous configuration on {listen}"
    return f"{who} was not started: {nothing_serves(listen)}"


def nothing_serves(listen: str) -> str:
    """What a load balancer that failed on its first start (or died) leaves: the words
    every router says alike, and a user and the tests look for."""
    return f"nothing serves on {listen}"


def process_record(text: str | None) -> dict | None:
    """A load balancer's process record (its pid file, a JSON object with the pid and its
    start time), or None when there is none or it is not one: cut short, emptied, edited
    by hand. Then the process is looked for by its command line, as when the file is lost;
    a record read as it came raised AttributeError deep in `up` and `down`."""
    try:
        rec = json.loads(text or "null")
    except ValueError:
        return None
    if not isinstance(rec, dict) or type(rec.get("pid")) is not int or \
            not isinstance(rec.get("start_time"), (int, type(None))):
        return None
    rec.setdefault("start_time", None)  # (not known: the pid alone is checked)
    return rec


def elsewhere(path: object, here: str, host: Host) -> bool:
    """Does a process record name a file of another state directory (`path`, the state or
    configuration its process was started with; `here`, this directory's) that still
    exists? This directory is then a copy of that one (`cp -a`, a backup restored), and the
    process that directory's: a `down` in a copy stopped the original's load balancer."""
    return isinstance(path, str) and path != here and host.read_text(path) is not None


def option_of(argv: list[str], flag: str) -> str | None:
    """The value given to `flag` on a command line, if any."""
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def start_failure(text: str, said: str, host: Host = LOCAL) -> RouterError:
    """The error of a load balancer that would not start: ListenTaken (exit 2) when what it
    `said` is the system's "address in use" (each of them prints the strerror), naming
    the address from that line and, here, who holds it; else a RouterError."""
    in_use = os.strerror(errno.EADDRINUSE)
    if in_use not in said:
        return RouterError(text)
    line = next(l for l in said.splitlines() if in_use in l)
    found = _ADDRESS_SAID.search(line)
    held = [] if found is None or host.remote else holders(int(found.group(2)))
    what = f"{found.group(0)}" if found else "the listen address"
    return ListenTaken(f"{what} is taken by another process"
                       + (f", {', '.join(held)}" if held else "")
                       + f": stop it, or set `listen` to a free port; {text}")


def await_process(done: Callable[[], bool], pid: int, started: int | None, deadline: float,
                  who: str, late: str, log: str | os.PathLike, died: str = "",
                  host: Host = LOCAL) -> None:
    """Poll `done` until true; a RouterError naming `who`, with the end of its log, if the
    process (on `host`) ends first (`died` says when) or `deadline` (time.monotonic)
    passes (`late`)."""
    waited = deadline - time.monotonic()
    while not done():
        if not host.running(pid, started):
            code = host.exit_code(pid)
            ended = "exited" if code is None else f"exited with code {code}"
            tail = log_tail(log, host=host)
            raise start_failure(f"{who} (pid {pid}) {ended}{' ' + died if died else ''}; "
                                f"{tail}", tail, host)
        if time.monotonic() > deadline:
            raise RouterError(f"{who} (pid {pid}) {late} within {waited:.0f}s; {log_tail(log, host=host)}")
        time.sleep(host.poll)


def socket_for(host: Host, path: str | os.PathLike, what: str = "socket path",
               binds_as: str = "") -> str:
    """The path a program on `host` binds the unix socket `path` at, and this machine's
    code connects to: on this machine, however long (zerodown/socket_path.py: a deep
    folder's through a short link); on another, `path` itself, or a RouterError if it is
    too long to bind there (and for sshd to forward a connection to). `binds_as`: the
    suffix of the temporary name the program binds first (HAProxy: `<path>.<pid>.tmp`,
    then renamed), which must fit too."""
    if not host.remote:
        return short(path, len(binds_as))
    size = len(os.fsencode(path)) + len(binds_as)
    if size > UNIX_PATH_MAX:
        how = f" (bound first as {path}{binds_as})" if binds_as else ""
        raise RouterError(f"{what} {path} on {host.name} is {size} bytes{how}, over the "
                          f"{UNIX_PATH_MAX}-byte limit of unix sockets; use a shorter "
                          f"state directory there")
    return str(path)


def require(host: Host, argv: list[str], needs: str, fix: str) -> None:
    """The pre-flight of a load balancer on `host`: `argv` must succeed there, or a
    RouterError names the host, what it lacks and how to fix it (before anything changes);
    a host that does not answer is its HostFailure, said the same way."""
    try:
        code, output = host.run(argv, 15.0)
    except HostFailure as e:
        raise HostFailure(f"router.host {host.name} did not answer the load balancer's "
                          f"pre-flight ({e}); nothing was changed", e.host) from None
    if code != 0:
        raise RouterError(f"router.host {host.name} cannot run the load balancer: {needs} "
                          f"({output.strip()[-300:] or f'exit {code}'}); {fix}; nothing was "
                          f"changed")


def tls_on_host(tls: TlsSettings, folder: str) -> tuple[TlsSettings, dict[str, str]]:
    """`tls` with every certificate and key as a copy in `folder` on the load balancer's
    host, and {copy there: the file here} for send_files (before each start or reload)."""
    files: dict[str, str] = {}

    def copy(path: str, name: str) -> str:
        files[f"{folder}/{name}"] = path
        return f"{folder}/{name}"
    return replace(tls, cert=copy(tls.cert, "cert.pem"), key=copy(tls.key, "key.pem"),
                   certificates=tuple(replace(c, cert=copy(c.cert, f"sni{i}.pem"),
                                              key=copy(c.key, f"sni{i}.key"))
                                      for i, c in enumerate(tls.certificates))), files


def send_files(host: Host, files: dict[str, str]) -> None:
    """Write each file of this machine to its copy on `host` (mode 0600)."""
    for there, here in files.items():
        try:
            text = Path(here).read_text()
        except OSError as e:
            raise RouterError(f"cannot read {here} to send it to {host.name}: "
                              f"{e.strerror or e}") from None
        host.write_text(there, text)
