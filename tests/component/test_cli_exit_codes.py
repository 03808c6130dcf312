"""Exit codes of the command line as a user meets them: 2 for the machine's or the input's
fault (nothing a retry fixes), 130 for a command stopped by Ctrl-C (SIGINT), each with a
message of its own and no traceback. Real processes, a real port held by another socket."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from tests.support import HOST
from tests.support.cli import Service, service  # noqa: F401
from tests.support.net import wait_until as wait_for


@pytest.mark.parametrize("router", ["embedded", "nginx", "haproxy"])
def test_up_with_the_listen_port_taken_exits_2_naming_the_address(tmp_path, router):
    service = Service(tmp_path, f"router: {{kind: {router}}}\n")
    holder = socket.socket()
    try:
        holder.bind((HOST, service.port))  # no SO_REUSEPORT: nothing can bind beside it
        holder.listen()
        err = service.run("up", code=2).stderr
    finally:
        holder.close()
        left = service.cleanup()
    assert not left, f"processes left after the test: {left}"
    # the address, and who holds it (this test's process), as `ss -ltnp` would say
    assert err.startswith(f"zerodown: error: {HOST}:{service.port} is taken by another "
                          f"process, "), err
    assert f" (pid {os.getpid()}): stop it, or set `listen` to a free port;" in err, err
    assert str(service.port) in err and "Address already in use" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command, first", [
    (("status", "--watch", "--interval", "0.1"), "nothing deployed yet"),
    (("logs", "controller", "--follow"), "a line already there"),
    (("controller", "--foreground"), "controller of shop"),
])
def test_a_command_stopped_by_ctrl_c_exits_130_with_one_line_and_no_traceback(
        service, command, first):
    service.state_dir.mkdir()
    (service.state_dir / "controller.log").write_text("a line already there\n")
    proc = service.start(*command)
    try:
        wait_for(lambda: first in proc.log() or not proc.alive, timeout=30,
                 what=f"zerodown {' '.join(command)}'s first output")
        assert proc.alive, proc.log()
        proc.signal(signal.SIGINT)
        assert proc.wait(20) == 130, proc.log()
    finally:
        proc.kill()
    said = proc.log().split(first, 1)[1]
    assert "Traceback" not in said and "KeyboardInterrupt" not in said, said
    assert "interrupted" in said.strip().splitlines()[-1], said
