"""A controller that runs and does not answer (busy: here SIGSTOPped, our own process, by
pid) is named by every command — `the controller (pid N) is busy` — and never doubled: the
lock it holds is the truth, not how fast it answers. One that holds the lock and does not
listen yet (starting) is waited for, never started beside. Real controller processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import service  # noqa: F401
from zerodown import cli
from zerodown.api import client as api_client
from zerodown.daemon import process


def controllers(state_dir: Path) -> set[int]:
    """pids of the controllers of this state dir (their command line names it)."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            line = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if str(state_dir).encode() in line and b"controller --foreground" in line:
            found.add(int(entry.name))
    return found


@pytest.mark.parametrize("command", [("controller",), ("status",), ("deploy", "v2"),
                                     ("pause",), ("up",)])
def test_every_command_names_a_busy_controller_and_starts_no_second(
        service, command, monkeypatch, capsys):  # noqa: F811
    assert "controller of shop runs" in service.run("controller").stdout
    pid = process.pid(service.state_dir)
    assert pid is not None and controllers(service.state_dir) == {pid}
    monkeypatch.setattr(api_client, "TIMEOUT", 0.5)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        code = cli.main(["-f", str(service.file), *command])
        took = time.monotonic() - started
        err = capsys.readouterr().err
        assert controllers(service.state_dir) == {pid}, "a second controller was started"
    finally:
        os.kill(pid, signal.SIGCONT)
    assert code == 1, err
    assert f"the controller (pid {pid}) is busy: no answer on unix:" in err, err
    # a stopped process answers nobody: the command says so, and how it goes on
    assert f"its process is stopped (SIGSTOP, a debugger or a shell's Ctrl-Z; `kill -CONT " \
           f"{pid}` lets it go on)" in err, err
    assert "`zerodown controller --stop`" in err and "Traceback" not in err
    assert took < process.START_TIMEOUT, f"waited {took:.1f}s on a controller that runs"
    assert "controller of shop runs" in service.run("controller").stdout  # itself again
    assert process.pid(service.state_dir) == pid


def test_a_lock_holder_not_listening_yet_is_waited_for_and_not_doubled(tmp_path, monkeypatch):
    """What a controller is between taking its lock and binding its socket: held, silent."""
    state_dir = tmp_path / ".zerodown"
    state_dir.mkdir()
    (tmp_path / "zerodown.yaml").write_text("service: shop\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
         str(state_dir / "controller.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        monkeypatch.setattr(process, "START_TIMEOUT", 0.5)
        with pytest.raises(Exception) as e:
            process.ensure(str(tmp_path / "zerodown.yaml"), state_dir)
        assert f"the controller (pid {holder.pid}) holds {state_dir}/controller.lock and " \
               "does not answer" in str(e.value)
        assert "controller --stop" in str(e.value)
        assert controllers(state_dir) == set(), "a controller was started beside the holder"
    finally:
        holder.kill()
        holder.wait()


def test_a_client_names_the_lock_holder_of_a_socket_that_does_not_answer(tmp_path):
    """The pid named is whoever holds controller.lock beside the socket (as process.pid
    finds it), not a pid file that may be missing or stale."""
    import fcntl
    import socket
    (tmp_path / "controller.pid").write_text("1\n")  # stale: not who holds the lock
    fd = os.open(tmp_path / "controller.lock", os.O_RDWR | os.O_CREAT)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        listener.bind(str(tmp_path / "controller.sock"))
        listener.listen(1)  # connects, never answers
        client = api_client.Client(socket_path=str(tmp_path / "controller.sock"), timeout=0.2)
        with pytest.raises(api_client.Unanswered) as e:
            client.request("GET", "/api/v1/status")
        assert f"the controller (pid {os.getpid()}) is busy" in str(e.value), e.value
        assert process.pid(tmp_path) == os.getpid()
    finally:
        listener.close()
        os.close(fd)
