"""`zerodown exec` on the local runtime, through the real CLI: the command runs here in the
deployed version's folder with its instances' environment (less what only an instance
has), its failure, its --timeout (its whole process group stopped) and bad usage named."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli import service  # noqa: F401
from tests.support.net import wait_until

SHOW = ("import json, os; print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))")


def with_release(s) -> None:
    """app.release releases/{version} (folders for v1 and v2), env with {version} and
    {port}, and a secret read from the environment."""
    for version in ("v1", "v2"):
        (s.root / "releases" / version).mkdir(parents=True)
    s.file.write_text(s.file.read_text().replace(
        '  env: {APP_DRAIN_TIMEOUT: "5"}',
        '  release: releases/{version}\n'
        '  env: {APP_DRAIN_TIMEOUT: "5", GREETING: "hello {version}", MY_PORT: "{port}"}\n'
        '  secrets: [{name: SHOP_TOKEN}]'))
    s.env["SHOP_TOKEN"] = "s3cret"


def test_exec_runs_in_the_stable_versions_folder_with_its_environment(service):
    s = service
    with_release(s)
    assert "nothing is deployed yet" in s.run("exec", "--", "true", code=2).stderr
    s.run("up")
    done = s.run("exec", "--", sys.executable, "-c", SHOW)
    seen = json.loads(done.stdout)
    assert seen["cwd"] == str(s.root / "releases" / "v1")
    env = seen["env"]
    assert (env["GREETING"], env["SHOP_TOKEN"], env["APP_DRAIN_TIMEOUT"]) == \
        ("hello v1", "s3cret", "5")
    assert "MY_PORT" not in env and "ZERODOWN_INSTANCE" not in env, env
    assert "ZERODOWN_STATE_DIR" not in env and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert "not set: MY_PORT" in done.stderr, done.stderr

    other = json.loads(s.run("exec", "--version", "v2", "--", sys.executable, "-c",
                             SHOW).stdout)
    assert other["cwd"] == str(s.root / "releases" / "v2")
    assert other["env"]["GREETING"] == "hello v2"
    missing = s.run("exec", "--version", "v9", "--", "true", code=2).stderr
    assert f"{s.root / 'releases' / 'v9'} does not exist" in missing, missing

    failed = s.run("exec", "--", sys.executable, "-c", "import sys; sys.exit(3)", code=3)
    assert "zerodown exec: " in failed.stderr and " exited 3 after " in failed.stderr
    assert "zerodown exec needs a command" in s.run("exec", "--", code=2).stderr
    assert "--all and --host pick hosts of runtime: ssh" in \
        s.run("exec", "--all", "--", "true", code=2).stderr
    assert "--timeout" in s.run("exec", "--timeout", "soon", "--", "true", code=2).stderr


def test_exec_past_its_timeout_stops_its_whole_process_group(service):
    s = service
    s.run("up")
    mark = f"{time.monotonic_ns() % 10**9}"
    began = time.monotonic()
    done = s.run("exec", "--timeout", "1s", "--", "sh", "-c",
                 f"sleep 3{mark} & echo started; wait", code=124)  # as timeout(1)
    assert time.monotonic() - began < 15
    assert done.stdout == "started\n"
    assert "did not end within --timeout 1s" in done.stderr, done.stderr
    wait_until(lambda: not _running(f"sleep 3{mark}"), what="its child stopped too")


def test_exec_gives_a_console_this_terminal(service):
    """On a terminal the command is its foreground: it reads what is typed (a console)."""
    s = service
    s.run("up")
    code = "import sys; print('got', input(), sys.stdin.isatty(), flush=True)"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the pty as its controlling terminal
        os.chdir(s.root)
        os.execve(sys.executable, s.argv("exec", "--", sys.executable, "-c", code), s.env)
    try:
        os.write(fd, b"hello\n")
        seen = b""
        deadline = time.monotonic() + 15
        # poll, not select: select refuses an fd past 1023, and a worker of the suite that
        # ran many tests before this one may hold that many ("filedescriptor out of range in select()")
        readable = select.poll()
        readable.register(fd, select.POLLIN)
        while b"got hello True" not in seen and time.monotonic() < deadline:
            if readable.poll(500):
                try:
                    seen += os.read(fd, 4096)
                except OSError:  # the pty's other end closed: the CLI ended
                    break
        assert b"got hello True" in seen, seen
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _running(cmdline: str) -> bool:
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().replace(
                    b"\0", b" ").strip() == cmdline.encode():
                return True
        except OSError:
            continue
    return False
