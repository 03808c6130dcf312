"""The embedded proxy as a real child process, for component and e2e tests."""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
from pathlib import Path

from zerodown import table_json
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.proxy.client import AdminClient

from .net import HOST, free_port
from .procs import ManagedProcess


class ProxyProcess:
    """`zerodown proxy` on a free port with a unix admin socket in `workdir`."""

    def __init__(self, workdir: Path, port: int | None = None, extra: list[str] = (),
                 env: dict[str, str] | None = None, *, admin: str | None = None,
                 token: str | None = None, nofile: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.admin_spec = admin or f"unix:{self.workdir / 'admin.sock'}"
        self.token = token
        self.admin = AdminClient(self.admin_spec, token, timeout=5)
        # run under a lower descriptor limit (prlimit, util-linux) to test what happens at it
        self.launcher = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] if nofile else []
        self.state = self.workdir / "proxy.json"
        self.extra = list(extra)
        self.env = None if env is None else {**os.environ, **env}
        self.procs: list[ManagedProcess] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def proc(self) -> ManagedProcess:
        return self.procs[-1]

    def start(self, timeout: float = 10.0) -> ManagedProcess:
        """Start a proxy process; a running one hands its sockets over to it."""
        argv = [*self.launcher, sys.executable, "-m", "zerodown", "proxy",
                "--listen", f"{HOST}:{self.port}", "--admin", self.admin_spec,
                "--state", str(self.state), *self.extra,
                *(["--admin-token", self.token] if self.token else [])]
        proc = ManagedProcess(argv, port=self.port, name="proxy", env=self.env)
        self.procs.append(proc)
        deadline = time.monotonic() + timeout
        while "zerodown proxy ready" not in proc.log():
            if not proc.alive:
                raise RuntimeError(f"proxy exited with {proc.returncode}; log:\n{proc.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"proxy not ready within {timeout}s; log:\n{proc.log()}")
            time.sleep(0.01)
        return proc

    def apply(self, table: RoutingTable) -> bool:
        return self.admin.apply(table)

    def stats(self) -> dict:
        return self.admin.stats()

    def serving_pid(self) -> int:
        """The serving process (the supervisor's child) that answers now."""
        return self.admin.health()["pid"]

    def __enter__(self) -> ProxyProcess:
        """`with ProxyProcess(...) as proxy:` started, and cleaned up however the block ends."""
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        for proc in self.procs:  # each its own session: the group holds its serving process
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.cleanup()


def table_of(version: int, *revisions: tuple[str, float, list], rules=(), sticky=None) -> RoutingTable:
    """table_of(1, ("v1", 90, [app1, app2]), ("v2", 10, [app3])) from started apps."""
    return RoutingTable(version, tuple(
        RevisionRoute(name, weight, tuple(Backend(f"{name}-{app.port}", f"{HOST}:{app.port}")
                                          for app in apps))
        for name, weight, apps in revisions), tuple(rules), sticky)


def dump(table: RoutingTable) -> str:
    return table_json.dumps(table)


class Edge:
    """One proxy for a whole test module; each test routes it to a fresh recording backend."""

    def __init__(self, proxy: ProxyProcess):
        self.proxy = proxy
        self.port = proxy.port
        self.versions = itertools.count(1)

    def fresh_backend(self, raw_backend):
        backend = raw_backend()
        self.proxy.apply(table_of(next(self.versions), ("v1", 100, [backend])))
        return backend


def assert_refused(c, status: int = 400) -> None:
    """One error response on a raw client, then the proxy closes; nothing else comes."""
    resp = c.read_response()
    assert resp.status == status, resp.raw_head
    assert (resp.header("connection") or "").lower() == "close"
    assert c.closed_within(3.0), "the proxy kept a connection open after refusing a request"
    assert bytes(c.buf) == b"", f"bytes after the error response: {bytes(c.buf)[:200]!r}"
