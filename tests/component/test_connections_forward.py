"""Connections.forward_unix: the local end of a forwarded unix socket, without a host."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import REPO

PROGRAM = """
from zerodown.hosts.connections import Connections
from zerodown.runtimes.ssh_options import parse_options
pool = Connections(parse_options({"hosts": ["nowhere.invalid"]}))
path = pool.forward_unix("nowhere.invalid", "/run/x.sock")
assert pool.forward_unix("nowhere.invalid", "/run/x.sock") == path  # one per remote socket
print(path, flush=True)
"""  # exits without close(), as a command does


def test_the_local_sockets_of_forwards_go_when_the_process_exits():
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    assert path.endswith(".sock") and "zerodown-fwd-" in path
    assert not os.path.exists(os.path.dirname(path))
