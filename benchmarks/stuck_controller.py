"""How long `zerodown deploy v2` takes to say that its controller does not answer: a real
controller of a fleet service whose one host accepts TCP and never says a word (the
pre-flight waits runtime.connect_timeout; default options otherwise), made stuck by
SIGSTOP (this script's own child, by pid):

  stopped  before the command asks (its first look at the controller goes unanswered)
  midway   once the controller took the request and its pre-flight connected to the host

    .venv/bin/python benchmarks/stuck_controller.py stopped
    .venv/bin/python benchmarks/stuck_controller.py midway
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.net import silent_listener, wait_until  # noqa: E402
from zerodown.daemon.process import pid as holder  # noqa: E402

CONFIG = """\
service: shop
listen: 127.0.0.1:{port}
instances: 1
app:
  command: [python3, app.py, --port, "{{port}}"]
runtime:
  kind: ssh
  hosts: [{host}]
  known_hosts: {root}/known_hosts
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("stopped", "midway"))
    mode = parser.parse_args().mode
    root = Path(tempfile.mkdtemp(prefix="stuck_controller_"))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    with silent_listener(server) as held:
        port = server.getsockname()[1]
        (root / "known_hosts").write_text("")
        (root / "zerodown.yaml").write_text(CONFIG.format(port=port + 1, root=root,
                                                          host=f"127.0.0.1:{port}"))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        zerodown = [sys.executable, "-m", "zerodown", "-f", str(root / "zerodown.yaml")]
        subprocess.run(zerodown + ["controller"], env=env, check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
        controller = holder(root / ".zerodown")
        try:
            if mode == "stopped":
                os.kill(controller, signal.SIGSTOP)
            began = time.monotonic()
            deploy = subprocess.Popen(zerodown + ["deploy", "v2"], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if mode == "midway":
                wait_until(lambda: held, timeout=60, what="the pre-flight's connection")
                os.kill(controller, signal.SIGSTOP)
            out, err = deploy.communicate(timeout=900)
            print(f"{mode}: deploy exited {deploy.returncode} after "
                  f"{time.monotonic() - began:.1f}s\n{out}{err}", flush=True)
        finally:
            os.kill(controller, signal.SIGCONT)
            subprocess.run(zerodown + ["controller", "--stop"], env=env, timeout=60,
                           stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
