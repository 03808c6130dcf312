"""The load balancer on a fleet host (router.host): the service it fronts and the
interpreter its embedded proxy runs with there. Shared by the fleet's router-host tests
(tests/fleet/test_router_host*.py, test_shared_router_host.py) and
benchmarks/fleet_router_host.py."""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

from zerodown.controller import Controller
from zerodown.engine.lifecycle import Phase

# An interpreter the fleet hosts can run that has the proxy's modules: Debian's python3
# in a venv that sees this environment's site-packages (the hosts mount /root, where
# this venv's own python lives, privately). What a user does with `pip install` there.
PROXY_PYTHON = Path("/var/tmp/zerodown-lb-python")


def proxy_python() -> str:
    python = PROXY_PYTHON / "bin" / "python3"
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(PROXY_PYTHON)],
                       check=True, timeout=60)
    found = subprocess.run([str(python), "-c", "import sysconfig; "
                            "print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    # every time: the venv outlives the environment (a worktree) that made it
    Path(found, "zerodown-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(python)


def config_text(fleet, port: int, router: str) -> str:
    """Instances on zdf2 and zdf3 (two each), the load balancer on zdf1 (a Host of the
    ssh_config, not one of runtime.hosts), listening on zdf1's address."""
    lb = fleet.hosts[0]
    text = fleet.service_config(port, "{kind: rolling, max_surge: 1, max_unavailable: 0}")
    text = text.replace(f"listen: 127.0.0.1:{port}", f"listen: {lb.address}:{port}")
    text = text.replace(f"instances: {2 * fleet.size}", "instances: 4")
    text = text.replace(f"hosts: [{', '.join(h.name for h in fleet.hosts)}]",
                        f"hosts: [{', '.join(h.name for h in fleet.hosts[1:])}]")
    return text + f"router: {router}\n"


def deploy(ctl: Controller, version: str) -> Phase:
    ctl.ensure_router()
    engine = ctl.engine()
    return engine.run(engine.deploy(version))
