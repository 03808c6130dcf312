"""The command line run as real processes against a service in a temp dir: the Service
helper of the CLI and API tests (tests/component/test_cli.py, test_api.py, tests/e2e/).

Each test runs its own service (the example app, 2 instances, health checks
every 0.1s) behind its own embedded proxy on a free port of 127.0.0.1, and
ends with `zerodown down` plus a check that no process of its state
directory is left (anything left is killed by pid, and the test fails).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import APP, HOST, REPO, ManagedProcess, app_env, free_port, get
from zerodown.hosts.local import start_time

CLI_TIMEOUT = 60.0


def alive(pid: int) -> bool:
    return start_time(pid) is not None


def ours(state_dir: Path) -> dict[int, str]:
    """Processes of this state directory: the proxy and controllers name it on their command
    line, instances carry it in ZERODOWN_STATE_DIR. {pid: command line}."""
    found, mark = {}, str(state_dir)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ")
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if alive(int(entry.name)) and (mark.encode() in cmdline or
                                       f"ZERODOWN_STATE_DIR={mark}".encode() in environ):
            found[int(entry.name)] = cmdline.decode(errors="replace").strip()
    return found


class Service:
    """A zerodown.yaml in a temp dir, and the CLI run against it."""

    def __init__(self, root: Path, extra: str = ""):
        """`extra`: more of zerodown.yaml (e.g. a controller section), appended as is."""
        self.root, self.port = root, free_port()
        self.file = root / "zerodown.yaml"
        self.state_dir = root / ".zerodown"
        self.env = {**app_env(None), "PYTHONPATH": str(REPO)}
        self.background: list[ManagedProcess] = []
        self.file.write_text(f"""\
service: shop
listen: {HOST}:{self.port}
instances: 2
app:
  command: [{json.dumps(sys.executable)}, {json.dumps(str(APP))}, "--port", "{{port}}",
            "--version", "{{version}}"]
  env: {{APP_DRAIN_TIMEOUT: "5"}}
health: {{path: /healthz, interval: 0.1s, timeout: 1s, start_timeout: 10s}}
drain_timeout: 5s
stop_grace: 5s
strategy: {{kind: rolling, max_surge: 1, max_unavailable: 0}}
""" + extra)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "zerodown", "-f", str(self.file), *args]

    def run(self, *args: str, code: int | None = 0) -> subprocess.CompletedProcess:
        """Run a command to its end; check its exit code unless `code` is None."""
        done = subprocess.run(self.argv(*args), cwd=self.root, env=self.env, text=True,
                              capture_output=True, timeout=CLI_TIMEOUT)
        if code is not None:
            assert done.returncode == code, (f"zerodown {' '.join(args)} exited "
                                             f"{done.returncode}, not {code}\n--- stdout\n"
                                             f"{done.stdout}\n--- stderr\n{done.stderr}")
        return done

    def up_deaf_to_sigterm(self, grace: float) -> None:
        """`up` with v1's instances ignoring SIGTERM (APP_IGNORE_TERM), so that each stop of
        one lasts the whole stop_grace, `grace`, ended by the SIGKILL after it; the file is
        then as before but for that grace: the revisions after it stop at once."""
        text = self.file.read_text().replace("stop_grace: 5s", f"stop_grace: {grace:g}s")
        deaf = 'env: {APP_DRAIN_TIMEOUT: "5", APP_IGNORE_TERM: "1"}'
        self.file.write_text(text.replace('env: {APP_DRAIN_TIMEOUT: "5"}', deaf))
        assert deaf in self.file.read_text()
        assert "shop is up: r1 (v1) serves" in self.run("up").stdout
        self.file.write_text(text)

    def start(self, *args: str) -> ManagedProcess:
        """A command in the background (its output in proc.log())."""
        proc = ManagedProcess(self.argv(*args), env=self.env, name="zerodown")
        self.background.append(proc)
        return proc

    def status(self) -> dict:
        return json.loads(self.run("status", "--json").stdout)

    def text(self) -> str:
        """GET / through the proxy."""
        return get(self.port, "/").text

    def pids(self, revision: int | None = None) -> set[int]:
        return {i["pid"] for i in self.status()["instances"]
                if revision is None or i["revision"] == revision}

    def cleanup(self) -> dict[int, str]:
        """down, then kill (by pid) whatever of ours is left; returns what was left."""
        for proc in self.background:
            proc.cleanup()
        if self.state_dir.exists() and self.run("down", code=None).returncode == 2:
            self.run("abort", code=None)  # a deployment still active: end it first
            self.run("down", code=None)
        left = ours(self.state_dir)
        for pid in left:
            try:
                os.killpg(pid, signal.SIGKILL)  # each runs in a session (and group) of its own
            except (ProcessLookupError, PermissionError):
                pass
        return left


@pytest.fixture
def service(tmp_path):
    s = Service(tmp_path)
    yield s
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


@pytest.fixture
def up(service):
    """A service serving v1."""
    out = service.run("up").stdout
    assert "shop is up: r1 (v1) serves" in out
    return service
