"""`zerodown hosts`: every host of an ssh runtime checked at once (the deployment pre-flight).

    zerodown hosts
    HOST   ADDRESS       READY  FREE     PROBLEM
    app1   10.0.0.11     yes    31.2 GB
    app2   -             no     -        host app2 (app2): no SSH connection within 10s ...

Exit 0 when every host is ready, 1 when one is not (what a deployment would refuse).
"""

from __future__ import annotations

import argparse
import json

from zerodown.errors import UsageError
from zerodown.render import table


def cmd_hosts(args: argparse.Namespace, ctl) -> int:
    cfg = ctl.config()
    if cfg.runtime.kind != "ssh":
        raise UsageError(f"{ctl.file}: runtime {cfg.runtime.kind} runs instances on this "
                         f"machine; `zerodown hosts` checks the hosts of runtime: ssh")
    from zerodown.hosts.connections import Connections  # asyncssh loads only here
    from zerodown.hosts.preflight import preflight
    from zerodown.runtimes.release import folder
    from zerodown.runtimes.ssh_options import parse_options
    options = parse_options(cfg.runtime.options, file=cfg.file, lines=cfg.lines)
    connections = Connections(options, folder(cfg))
    try:
        reports = preflight(connections, options.state_dir)
        addresses = {r.host: _address(connections, r.host) if r.ready else None
                     for r in reports}
    finally:
        connections.close()
    if getattr(args, "json", False):
        from zerodown.render_json import hosts_dict
        print(json.dumps(hosts_dict(reports, addresses), indent=2))
        return 0 if all(r.ready for r in reports) else 1
    rows = [(r.host, addresses[r.host] or "-", "yes" if r.ready else "no",
             f"{r.free_mb / 1024:.1f} GB" if r.free_mb is not None else "-",
             r.problem or "") for r in reports]
    print(table(("HOST", "ADDRESS", "READY", "FREE", "PROBLEM"), rows))
    return 0 if all(r.ready for r in reports) else 1


def _address(connections, host: str) -> str:
    try:
        return connections.peer_address(host)
    except Exception:  # noqa: BLE001  (the report already says whether it answered)
        return "?"
