"""Exit codes of the command line as a user meets them: 2 for the machine's or the input's
fault (nothing a retry fixes), 130 for a command stopped by Ctrl-C (SIGINT), each with a
message of its own and no traceback. Real processes, a real port held by another socket."""

from __future__ import annotations

import socket

from tests.support import HOST
from tests.support.cli import Service, service  # noqa: F401


def test_up_with_the_listen_port_taken_exits_2_naming_the_address(service):
    holder = socket.socket()
    try:
        holder.bind((HOST, service.port))  # no SO_REUSEPORT: the proxy cannot bind beside it
        holder.listen()
        err = service.run("up", code=2).stderr
    finally:
        holder.close()
    assert err.startswith("zerodown: error: the listen address is taken by another process: "
                          "stop it, or set `listen` to a free port;"), err
    assert f"{HOST}:{service.port}: Address already in use" in err
    assert "Traceback" not in err
