"""The helper zerodown runs on an SSH host: zerodown/hosts/local.py's and files.py's functions,
one call a run.

    echo '{"op": "running", "args": [4242, 81234]}' | python3 -m zerodown.hosts.agent
    {"ok": true}
    python3 -m zerodown.hosts.agent --serve   # one request a line, one answer a line, until EOF
    python3 -m zerodown.hosts.agent --serve --idle 60   # ... or 60 s idle without a line

`--serve` is how zerodown/hosts/ssh.py uses it: a session kept open over the host's SSH
connection answers each call in a round trip, without a new channel, shell and python3
start per call. Its children are its own: local.py reaps them (running() looks), and when
the session ends they are reparented like those of a one-shot agent.

With `--idle`, a serving agent also ends when no line came for that many seconds while it
was idle: its controller sends a blank line (a heartbeat, answered with nothing) to every
idle agent it holds, every runtime.keepalive (hosts/idle_sessions.py). A controller cut
off whose connection's reset was lost leaves the sshd session open until sshd's TCP
keepalive (~2 h); its agent now ends by itself. Only while idle: a request being served
(a before_start hook of an hour) is never cut, and the count starts again after it.

So a process on another machine is started, signalled, found and waited for by the same
code as on this one (one implementation of pid + start time, SIGTERM then SIGKILL, ...).
The instances of a service on the host are kept by the same InstanceTable as on this
machine (zerodown/hosts/instances.py). It is uploaded by zerodown/hosts/ssh.py with the
modules it imports and needs only
the host's python3 and its standard library. A failure is {"error": message}.
"""

from __future__ import annotations

import json
import os
import select
import sys
from typing import Any, Callable, Iterator, Sequence
from pathlib import Path

from zerodown.errors import ZerodownError
from zerodown.hosts import files, local, owner, probe, releases, shared_paths
from zerodown.hosts.instances import InstanceTable


def _spawn(argv: list[str], cwd: str | None, env: dict[str, str] | None, log_path: str,
           banner: str) -> dict:
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    proc = local.spawn(argv, cwd=cwd, env=env, log_path=Path(log_path), banner=banner)
    return {"pid": proc.pid, "start_time": local.start_time(proc.pid)}


def _preflight(state_dir: str, shared: dict | None = None) -> dict:
    """The pre-flight's look at the host (zerodown/hosts/preflight.py): the state directory
    writable, the space free there (python3 is here: it runs this), the shared files
    (app.shared_files) it lacks."""
    try:
        os.makedirs(state_dir, exist_ok=True)
        writable = os.access(state_dir, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        return {"problem": f"state_dir {state_dir} is not writable", "free_mb": None,
                "unshared": []}
    st = os.statvfs(state_dir)
    return {"problem": None, "free_mb": st.f_bavail * st.f_frsize // (1024 * 1024),
            "unshared": shared_paths.missing(shared)}


def _table(state_dir: str, method: str, *args):
    """A method of the InstanceTable of `state_dir` (the registry of one service's
    instances) that changes no instance: one that does is asked through `owned`; an adopt
    asked so answers without the registry's housekeeping (InstanceTable.adopt)."""
    if method in CHANGES:
        raise ValueError(f"instance table method {method!r} changes the service's "
                         f"instances: asked with the controller's id only (op 'owned')")
    return _table_owned(state_dir, method, *args, tidy=False)


def _table_owned(state_dir: str, method: str, *args, tidy: bool = True):
    if method not in TABLE_METHODS:
        raise ValueError(f"no instance table method {method!r}")
    if method == "adopt":
        (service,) = args
        return InstanceTable(state_dir).adopt(service, tidy=tidy)
    return getattr(InstanceTable(state_dir), method)(*args)


def _owned(service_dir: str, my_id: str, op: str, args: list):
    """`op` (of OWNED: its first argument is `service_dir`) asked by the controller `my_id`:
    refused (owner.NotOwner) where the service's owner record here names another one, which
    took it over since this controller's pre-flight; where nobody is recorded yet (a first
    deployment), or it is `my_id`, done. An adopt by another is answered all the same, as
    a read: its housekeeping (dead records forgotten) is the owner's. So is an adopt where
    the record cannot be read (whose it is cannot be told): refused, it raised out of a
    deployment's reconcile, which the daemon retried without end; the change after it is
    the one refused (owner.Unreadable), and the deployment fails there."""
    if op not in OWNED:
        raise ValueError(f"no owned operation {op!r}; valid: {', '.join(OWNED)}")
    if op == "table" and args[:1] == ["adopt"]:
        try:
            mine = owner.other_than(service_dir, my_id) is None
        except owner.Unreadable:
            mine = False
        return _table_owned(service_dir, *args, tidy=mine)
    other = owner.other_than(service_dir, my_id)
    if other is not None:
        raise owner.NotOwner(other, os.path.basename(service_dir.rstrip("/")))
    return OWNED[op](service_dir, *args)


TABLE_METHODS = ("claim", "launch", "start", "drop", "entry", "alive", "live_entry", "ended",
                 "await_listening", "stop", "hasten", "adopt", "owns_port")
CHANGES = ("claim", "launch", "start", "drop", "stop", "hasten")  # only through `owned`


def _commit(service_dir: str, base: str, version: str, manifest: dict, keep: int,
            keep_also: Sequence[str] = (), shared: dict | None = None) -> dict:
    """releases.commit, its service's folder first (its prune keeps what runs there)."""
    return releases.commit(base, version, manifest, keep, list(keep_also), service_dir,
                           shared)


# The acts that change a service's instances on the host, each given its service's folder
# first: asked through `owned` only, with the asking controller's id.
OWNED: dict[str, Callable[..., Any]] = {"table": _table_owned, "release_commit": _commit}
OPS: dict[str, Callable[..., Any]] = {
    "processes": lambda: list(local.processes()),
    "start_time": local.start_time,
    "parent_of": local.parent_of,
    "running": local.running,
    "spawn": _spawn,
    "terminate": local.terminate,
    "wait_gone": local.wait_gone,
    "tail": local.tail,
    "table": _table,
    "probe": probe.probe_address,
    "read_text": files.read_text,
    "read_chunks": files.read_chunks,
    "write_text": files.write_text,
    "remove": files.remove,
    "makedirs": files.makedirs,
    "size": files.size,
    "run": files.run,
    "send_signal": local.send_signal,
    "argv_of": local.argv_of,
    "ask_unix": files.ask_unix,
    "ask_unix_many": files.ask_unix_many,
    "batch": lambda calls: _batch(calls),
    "children": local.children,
    "preflight": _preflight,
    "owner": owner.owner,
    "release_prepare": releases.prepare,
    "owned": _owned,
    "release_prepare_hook": releases.run_prepare_hook,
}


def _batch(calls: list) -> list:
    """files.batch over every call of this agent but a batch (a superset of LocalHost's)."""
    return files.batch(calls, {op: call for op, call in OPS.items() if op != "batch"})


def answer(text: str) -> dict:
    try:
        request = json.loads(text)
        return {"ok": OPS[request["op"]](*request.get("args", ()))}
    except (ZerodownError, OSError, ValueError, KeyError) as e:
        # an unreadable owner record, or another's, is the host's answer, not a failure
        if isinstance(e, owner.NotOwner):
            return {"error": str(e), "kind": "not_owner", "owner": e.record,
                    "service": e.service}
        return {"error": str(e), **({"kind": "owner_unreadable"}
                                    if isinstance(e, owner.Unreadable) else {})}


def serve(idle: float | None = None) -> int:
    """Answer one JSON request a line until stdin ends (or, with `idle`, stays silent that
    long between requests). The answers go to a private copy of stdout; fd 1 becomes
    stderr, so nothing else printed can be taken for an answer. A blank line (a
    heartbeat) is answered with nothing."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    for line in lines(sys.stdin.fileno(), idle):
        if line.strip():
            out.write(json.dumps(answer(line)) + "\n")
            out.flush()
            local.reap_ended()
    return 0


def lines(fd: int, idle: float | None) -> Iterator[str]:
    """Each line read from `fd` until it ends, or until nothing came for `idle` seconds
    while the caller waits for the next line (not while it serves one: the time between
    two waits is not counted). Read from the fd itself: a buffered readline cannot be
    bounded in time."""
    buf = b""
    watch = select.poll()  # not select(): it refuses an fd past 1023
    watch.register(fd, select.POLLIN)
    while True:
        while b"\n" not in buf:
            if idle is not None and not watch.poll(idle * 1000):
                return
            data = os.read(fd, 65536)
            if not data:
                if buf:
                    yield buf.decode("utf-8", "replace")
                return
            buf += data
        line, buf = buf.split(b"\n", 1)
        yield line.decode("utf-8", "replace") + "\n"


def main() -> int:
    if sys.argv[1:] == ["--serve"]:
        return serve()
    if sys.argv[1:2] == ["--serve"] and sys.argv[2:3] == ["--idle"] and len(sys.argv) == 4:
        return serve(float(sys.argv[3]))
    json.dump(answer(sys.stdin.read()), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
