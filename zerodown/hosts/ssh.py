"""Processes on another machine over SSH: the Host protocol (zerodown.protocols.Host).

    host = SshHost(connections, "app1", state_dir="/var/lib/zerodown")
    spawned = host.spawn(argv, cwd=..., env=..., log_path=..., banner=...)
    host.running(spawned.pid, spawned.start_time)

Every call is answered by zerodown/hosts/agent.py on the host (a session of it kept open
over the connection, `--serve`: a call is one round trip), which calls the same functions
of zerodown/hosts/local.py that run on this machine: one implementation of naming a
process by pid and start time, of SIGTERM then SIGKILL, of finding a process. The
agent is uploaded once per content (a directory named by its hash under
<state_dir>/agent/); unchanged, it is not sent again.

An answer that did not arrive (timeout, connection lost) raises HostFailure:
"unknown" is never read as "not running" (which would start a duplicate) nor as
success.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shlex
import tarfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from zerodown.errors import HostFailure, NotOwner, OwnerUnreadable, RuntimeFailure
from zerodown.hosts.code_dirs import install_script
from zerodown.hosts.connections import Connections
from zerodown.hosts.console import LocalTerminal
from zerodown.hosts.idle_sessions import agent_idle_limit
from zerodown.hosts.local import KILL_WAIT
from zerodown.hosts.one_off import Trailer
from zerodown.owner import refusal

_PACKAGE = Path(__file__).resolve().parent.parent
# The agent's command exits with this when its folder is not there (pruned since this
# process installed it: code_dirs.py keeps the 3 newest): nothing ran, so it is put back
# and the call asked again.
AGENT_MISSING = 97
# What the agent needs, with empty package files: zerodown/__init__.py is not for the host.
_FILES = {"zerodown/__init__.py": None, "zerodown/hosts/__init__.py": None,
          "zerodown/errors.py": "errors.py", "zerodown/atomic_write.py": "atomic_write.py",
          "zerodown/hosts/local.py": "hosts/local.py",
          "zerodown/hosts/exits.py": "hosts/exits.py",
          "zerodown/hosts/process_identity.py": "hosts/process_identity.py",
          "zerodown/hosts/files.py": "hosts/files.py",
          "zerodown/socket_path.py": "socket_path.py",
          "zerodown/hosts/stamper.py": "hosts/stamper.py",
          "zerodown/hosts/log_prune.py": "hosts/log_prune.py",
          "zerodown/hosts/priority.py": "hosts/priority.py",
          "zerodown/hosts/probe.py": "hosts/probe.py",
          "zerodown/hosts/instances.py": "hosts/instances.py",
          "zerodown/hosts/stop_once.py": "hosts/stop_once.py",
          "zerodown/hosts/registry.py": "hosts/registry.py",
          "zerodown/hosts/listeners.py": "hosts/listeners.py",
          "zerodown/hosts/listen_wait.py": "hosts/listen_wait.py",
          "zerodown/hosts/releases.py": "hosts/releases.py",
          "zerodown/hosts/shared_paths.py": "hosts/shared_paths.py",
          "zerodown/hosts/owner.py": "hosts/owner.py",
          "zerodown/hosts/code_dirs.py": "hosts/code_dirs.py",
          "zerodown/hosts/one_off.py": "hosts/one_off.py",
          "zerodown/hosts/agent.py": "hosts/agent.py"}


@dataclass(frozen=True)
class RemoteProcess:
    pid: int
    start_time: int | None


@lru_cache(maxsize=1)
def bundle() -> tuple[str, bytes]:
    """(content hash, tar.gz) of the agent's files."""
    buf = io.BytesIO()
    digest = hashlib.sha256()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, source in _FILES.items():
            data = b"" if source is None else (_PACKAGE / source).read_bytes()
            digest.update(name.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return digest.hexdigest()[:16], buf.getvalue()


class SshHost:
    """One host of runtime.hosts, reached through the fleet's Connections."""

    poll = 0.2  # a look costs a round trip: wait loops look less often than locally

    def __init__(self, connections: Connections, name: str, state_dir: str):
        self.connections = connections
        self.name = name
        self.state_dir = state_dir
        digest, _ = bundle()
        self.agent_dir = f"{state_dir.rstrip('/')}/agent/{digest}"
        self.step_timeout = connections.options.command_timeout  # runtime.command_timeout
        # idle without its controller's heartbeats that long, the agent ends by itself
        self.agent_command = (f"cd {shlex.quote(self.agent_dir)} || exit {AGENT_MISSING}; "
                              f"exec python3 -m "
                              f"zerodown.hosts.agent --serve --idle "
                              f"{agent_idle_limit(connections.options.keepalive):g}")
        self._installing = threading.Lock()  # calls from several threads install it once

    # --- the Host protocol ---------------------------------------------------

    def processes(self) -> Iterator[tuple[int, list[str]]]:
        return iter([(pid, argv) for pid, argv in self._call("processes")])

    def start_time(self, pid: int) -> int | None:
        return self._call("start_time", pid)

    def parent_of(self, pid: int) -> int | None:
        return self._call("parent_of", pid)

    def running(self, pid: int | None, started: int | None) -> bool:
        if pid is None or started is None:
            return False
        return self._call("running", pid, started)

    def spawn(self, argv: list[str], *, cwd: str | None, env: dict[str, str] | None,
              log_path: Path | str, banner: str) -> RemoteProcess:
        got = self._call("spawn", argv, cwd, env, str(log_path), banner)
        return RemoteProcess(got["pid"], got["start_time"])

    def exit_code(self, pid: int) -> int | None:
        return None  # the agent that spawned it has exited: nobody reaped it for us

    def forget(self, pid: int) -> None:
        pass  # nothing is kept here about a remote child

    def terminate(self, pid: int, started: int, grace: float, what: str) -> None:
        self._call("terminate", pid, started, grace, what, timeout=grace + KILL_WAIT + self.step_timeout)

    def wait_gone(self, pid: int, started: int, timeout: float) -> bool:
        return self._call("wait_gone", pid, started, timeout, timeout=timeout + self.step_timeout)

    def tail(self, path: Path | str, lines: int) -> list[str]:
        return self._call("tail", str(path), lines)

    # --- files and commands of a load balancer run here (routers/) ---------------

    remote = True
    python = "python3"  # a router's option may name another (router.python)

    def read_text(self, path: str, offset: int = 0) -> str | None:
        return self._call("read_text", path, offset)

    def write_text(self, path: str, text: str) -> None:
        self._call("write_text", path, text)

    def remove(self, path: str) -> None:
        self._call("remove", path)

    def makedirs(self, path: str) -> None:
        self._call("makedirs", path)

    def size(self, path: str) -> int:
        return self._call("size", path)

    def run(self, argv: list[str], timeout: float, cwd: str | None = None
            ) -> tuple[int | None, str]:
        try:
            code, output = self._call("run", argv, timeout, cwd, timeout=timeout + self.step_timeout)
        except HostFailure:
            raise  # no answer: whether it ran is unknown, not "it could not run"
        except RuntimeFailure as e:
            return None, str(e)
        return code, output

    def send_signal(self, pid: int, started: int | None, signum: int, group: bool = False
                    ) -> bool:
        return self._call("send_signal", pid, started, signum, group)

    def ask_unix(self, path: str, data: str, timeout: float) -> str:
        return self._call("ask_unix", path, data, timeout, timeout=timeout + 5)

    def ask_unix_many(self, path: str, datas: list[str], timeout: float,
                      stop_at: str | None = None) -> list[str]:
        return self._call("ask_unix_many", path, datas, timeout, stop_at,
                          timeout=timeout * max(1, len(datas)) + 5)

    def batch(self, calls: list) -> list:
        return self._call("batch", [[op, list(args)] for op, args in calls],
                          timeout=self.step_timeout + 5)

    def argv_of(self, pid: int) -> list[str] | None:
        return self._call("argv_of", pid)

    def children(self, pid: int) -> list[tuple[int, int, list[str]]]:
        return [tuple(c) for c in self._call("children", pid)]

    def code_root(self) -> str:
        """zerodown's own code, uploaded once per content (zerodown/hosts/package.py)."""
        from zerodown.hosts.package import install_package
        return install_package(self)

    def unix_path(self, path: str) -> str:
        return self.connections.forward_unix(self.name, path)

    def call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        """One operation of the agent (zerodown/hosts/agent.py OPS) on the host."""
        return self._call(op, *args, timeout=timeout)

    def one_off(self, request: dict, on_output: Callable[[bytes], None], timeout: float,
                stdin: int | None = None, term: LocalTerminal | None = None) -> dict:
        """A command run there by zerodown/hosts/one_off.py (`zerodown exec`), its output
        handed to `on_output` as it comes; its outcome. `stdin`: this fd's data is the
        command's stdin (request["stdin"]), `term` this machine's terminal for a pseudo-
        terminal there (hosts/console.py). HostFailure: no answer within `timeout`, so
        whether it ran or ended is unknown."""
        self.install(timeout)
        command = (f"cd {shlex.quote(self.agent_dir)} || exit {AGENT_MISSING}; "
                   f"exec python3 -m zerodown.hosts.one_off")
        trailer = Trailer(on_output)  # on a terminal the outcome ends the output
        if stdin is None:
            def stream():
                return self.connections.stream(self.name, command, json.dumps(request),
                                               on_output, timeout=timeout)
            done = stream()
            if done.status == AGENT_MISSING:  # nothing ran: put it back, run it there
                self.reinstall(timeout)
                done = stream()
        else:
            done = self.connections.attach(
                self.name, command, json.dumps(request),
                on_output if term is None else trailer.feed, stdin=stdin, term=term,
                timeout=timeout)
        told = trailer.end()
        if done.status is None:
            raise HostFailure(f"host {self.name}: {_outcome(done)}", self.name)
        if done.status == AGENT_MISSING:  # (with our stdin: some may have gone, not again)
            self.reinstall(timeout)
            raise RuntimeFailure(f"host {self.name}: zerodown's agent had been removed from "
                                 f"{self.agent_dir} (another zerodown's install keeps the "
                                 f"3 newest); it is put back: nothing ran, run it again")
        try:
            said = done.stderr if told is None else told.decode(errors="replace")
            return json.loads(said.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeFailure(f"host {self.name}: the command's runner ended without "
                                 f"saying how ({_outcome(done)})") from None

    def table(self, state_dir: str, method: str, *args: Any,
              timeout: float | None = None) -> Any:
        """InstanceTable(state_dir).method(*args) on the host (zerodown/hosts/instances.py),
        for a method that changes no instance (a look)."""
        return self._call("table", state_dir, method, *args, timeout=timeout)

    def owned(self, service_dir: str, my_id: str, op: str, *args: Any,
              timeout: float | None = None) -> Any:
        """An op that changes the service's instances (agent.py OWNED: "table" for a
        start, stop, adopt, ...; "release_commit"), asked as the controller `my_id`: NotOwner
        where the host records another as the service's owner."""
        return self._call("owned", service_dir, my_id, op, list(args), timeout=timeout)

    # --- the agent -----------------------------------------------------------

    @property
    def installed(self) -> bool:
        """Has this process put (or found) the agent on the host already, over the host's
        connection (by any runtime over these connections: runtimes/kept.py)?"""
        return self.agent_dir in self.connections.agents.get(self.name, ())

    def _found(self) -> None:
        self.connections.agents.setdefault(self.name, set()).add(self.agent_dir)

    def reinstall(self, within: float | None = None) -> None:
        """The agent put back: its folder was found gone (AGENT_MISSING), though this
        process had put it there (code_dirs.py prunes all but the 3 newest, which another
        zerodown's install can make of ours once no agent of ours runs there)."""
        with self._installing:
            self.connections.agents.get(self.name, set()).discard(self.agent_dir)
            self._install(within)

    def install(self, within: float | None = None) -> None:
        """Put the agent on the host unless this content is there already; `within`: the
        bound of the call that needs it, on the look whether it is there (a 2 s status look
        at a host that does not answer stays 2 s; an upload takes runtime.command_timeout)."""
        with self._installing:
            self._install(within)

    def _install(self, within: float | None = None) -> None:
        if self.installed:
            return
        d = shlex.quote(self.agent_dir)
        there = self.connections.run(self.name, f"test -e {d}/ok",
                                     timeout=min(within or self.step_timeout, self.step_timeout))
        if there.status == 0:
            self._found()
            return
        if there.status is None:
            raise HostFailure(f"host {self.name}: cannot tell whether zerodown's agent is "
                              f"installed ({there.stderr})", self.name)
        _, data = bundle()
        done = self.connections.run(  # safe beside another process's install (code_dirs.py)
            self.name, install_script(self.agent_dir, python_check=True),
            input=base64.b64encode(data).decode(), timeout=self.step_timeout)
        if not done.ok:
            raise RuntimeFailure(f"host {self.name}: cannot install zerodown's agent in "
                                 f"{self.agent_dir}: {_outcome(done)}")
        self._found()

    def _call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        if not self.installed:
            self.install(timeout)
        request = json.dumps({"op": op, "args": args})
        if op == "owned":  # named by what it does: `table stop`, `release_commit`
            op = " ".join([args[2], *args[3][:1]] if args[2] == "table" else [args[2]])
        def ask():  # a session of the agent kept open: one round trip
            return self.connections.ask(self.name, self.agent_command, request,
                                        timeout=timeout or self.step_timeout, heartbeat=True)
        done = ask()
        if done.status == AGENT_MISSING:  # its folder pruned since it was put there
            self.reinstall(timeout)
            done = ask()
        if done.status is None:  # no answer: the host, not the instance, is the matter
            raise HostFailure(f"host {self.name}: {op} {_outcome(done)}", self.name)
        if not done.ok:
            raise RuntimeFailure(f"host {self.name}: {op} {_outcome(done)}")
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            raise RuntimeFailure(f"host {self.name}: {op}: the agent answered "
                                 f"{done.stdout[:200]!r}") from None
        if answer.get("kind") == "owner_unreadable":
            raise OwnerUnreadable(answer["error"], self.name)
        if answer.get("kind") == "not_owner":  # taken over since this controller's pre-flight
            raise NotOwner(f"host {self.name}: refused, the service was taken over: "
                           f"{refusal(answer['owner'], answer['service'])}", self.name,
                           answer["owner"])
        if "error" in answer:
            raise RuntimeFailure(f"host {self.name}: {answer['error']}")
        return answer["ok"]


def _outcome(done) -> str:
    if done.status is None:
        return f"has an unknown outcome: {done.stderr}"
    return f"failed (exit {done.status}): {done.stderr.strip()[-500:]}"
