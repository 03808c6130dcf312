"""`zerodown hosts`: every host of an ssh runtime checked at once (the deployment pre-flight).

    zerodown hosts
    HOST   ADDRESS       READY  FREE     PROBLEM
    app1   10.0.0.11     yes    31.2 GB
    app2   -             no     -        host app2: no SSH connection within 10s ...

The load balancer's host (router.host) is checked too, with what it needs to run the
load balancer (`haproxy -v`, `nginx -v`, the embedded proxy's interpreter), and marked
"(router)". Exit 0 when every host is ready, 1 when one is not (what a deployment would
refuse).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from zerodown.errors import RouterError, RuntimeFailure, UsageError
from zerodown.render import table


def cmd_hosts(args: argparse.Namespace, ctl) -> int:
    cfg = ctl.config()
    if cfg.runtime.kind != "ssh":
        raise UsageError(f"{ctl.file}: runtime {cfg.runtime.kind} runs instances on this "
                         f"machine; `zerodown hosts` checks the hosts of runtime: ssh")
    from zerodown.hosts.connections import Connections  # asyncssh loads only here
    from zerodown.hosts.preflight import preflight
    from zerodown.runtimes.release import folder
    from zerodown.runtimes.ssh_options import parse_host, parse_options
    options = parse_options(cfg.runtime.options, file=cfg.file, lines=cfg.lines)
    connections = Connections(options, folder(cfg))
    lb = cfg.router.host
    if lb is not None:  # checked like the others, then for its load balancer below
        connections.specs.setdefault(lb, parse_host(lb))
    try:
        reports = preflight(connections, options.state_dir)
        if lb is not None:
            reports = [_router_ready(ctl, cfg, r) if r.host == lb else r for r in reports]
        addresses = {r.host: _address(connections, r.host)
                     if r.ready or r.host == lb and r.free_mb is not None else None
                     for r in reports}  # router.host reached but lacking its balancer: shown
    finally:
        connections.close()
    if getattr(args, "json", False):
        from zerodown.render_json import hosts_dict
        print(json.dumps(hosts_dict(reports, addresses), indent=2))
        return 0 if all(r.ready for r in reports) else 1
    rows = [(r.host + (" (router)" if r.host == lb else ""), addresses[r.host] or "-", "yes" if r.ready else "no",
             f"{r.free_mb / 1024:.1f} GB" if r.free_mb is not None else "-",
             r.problem or "") for r in reports]
    print(table(("HOST", "ADDRESS", "READY", "FREE", "PROBLEM"), rows))
    return 0 if all(r.ready for r in reports) else 1


def _router_ready(ctl, cfg, report):
    """`report` of router.host, with what its load balancer needs checked once it is ready."""
    if not report.ready:
        return report
    try:
        ctl.router(cfg).preflight()
    except (RouterError, RuntimeFailure) as e:
        return replace(report, problem=str(e).replace("; nothing was changed", ""))
    return report


def _address(connections, host: str) -> str:
    try:
        return connections.peer_address(host)
    except Exception:  # noqa: BLE001  (the report already says whether it answered)
        return "?"
