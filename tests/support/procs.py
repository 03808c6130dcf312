"""Child processes for tests: started, probed, and always reaped."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .net import HOST, free_port, port_open, request

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "app" / "app.py"

_live: set["ManagedProcess"] = set()


class ManagedProcess:
    """A child process with its stderr kept in a file; kill() is always safe."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None,
                 port: int | None = None, host: str = HOST, name: str = "child"):
        self.name, self.port, self.host = name, port, host
        fd, self.log_path = tempfile.mkstemp(prefix=f"zerodown-{name}-", suffix=".log")
        try:
            self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                          stdout=fd, stderr=fd, start_new_session=True)
        finally:
            os.close(fd)
        _live.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        """The exit code; TimeoutError (with the child's log) if still running."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.name} pid {self.pid} still running after "
                               f"{timeout:g}s; log:\n{self.log()}") from None

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        self.signal(signal.SIGKILL)
        return self.popen.wait(10)

    def cleanup(self) -> None:
        """Kill if still running and forget the log file."""
        if self.alive:
            self.kill()
        _live.discard(self)
        try:
            os.unlink(self.log_path)
        except FileNotFoundError:
            pass

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.returncode}"
        return f"<{self.name} pid {self.pid} port {self.port} {state}>"


@atexit.register
def _kill_survivors() -> None:
    for proc in list(_live):
        proc.cleanup()


def app_env(env: dict[str, str] | None) -> dict[str, str]:
    """The parent's environment without stray APP_* knobs, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    return {**base, **(env or {})}


def start_app(version: str = "v1", port: int | None = None,
              env: dict[str, str] | None = None, *, wait: str | None = "healthy",
              timeout: float = 10.0, host: str = HOST) -> ManagedProcess:
    """Start examples/app/app.py and wait until it is ready.

    wait: "healthy" (GET /healthz is 200), "http" (any HTTP answer),
    "port" (it accepts connections) or None (return at once).
    """
    # A port from free_port() can be taken by someone else's outgoing connection
    # before the app binds it; when we chose the port, choose again.
    tries = 3 if port is None else 1
    for attempt in range(tries):
        chosen = port or free_port(host)
        argv = [sys.executable, str(APP), "--port", str(chosen), "--host", host,
                "--version", version]
        proc = ManagedProcess(argv, env=app_env(env), port=chosen, host=host,
                              name=f"app-{version}")
        if wait is None:
            return proc
        try:
            wait_ready(proc, wait, timeout)
            return proc
        except PortTaken:
            proc.cleanup()
            if attempt == tries - 1:
                raise
        except BaseException:
            proc.cleanup()
            raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    """The child exited because its port was already in use."""


def wait_ready(proc: ManagedProcess, how: str, timeout: float) -> None:
    """Poll the child until ready by `how`, failing early if it exits."""
    deadline = time.monotonic() + timeout
    last = "nothing yet"
    while time.monotonic() < deadline:
        if not proc.alive:
            log = proc.log()
            error = PortTaken if "address already in use" in log.lower() else RuntimeError
            raise error(f"{proc.name} exited with {proc.returncode} before "
                        f"it was ready; log:\n{log}")
        if how == "port":
            if port_open(proc.host, proc.port):
                return
        else:
            try:
                reply = request("GET", proc.port, "/healthz", host=proc.host, timeout=1)
                if how == "http" or reply.status == 200:
                    return
                last = f"HTTP {reply.status}"
            except OSError as e:
                last = str(e)
        time.sleep(0.01)
    raise TimeoutError(f"{proc.name} on {proc.host}:{proc.port} not {how} within "
                       f"{timeout:g}s (last: {last}); log:\n{proc.log()}")
