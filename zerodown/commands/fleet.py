"""`zerodown hosts`: every host of an ssh runtime checked at once (the deployment pre-flight).

    zerodown hosts
    HOST   ADDRESS       READY  FREE     PROBLEM
    app1   10.0.0.11     yes    31.2 GB
    app2   -             no     -        host app2: no SSH connection within 10s ...

The load balancer's host (router.host) is checked too, with what it needs to run the
load balancer (`haproxy -v`, `nginx -v`, the embedded proxy's interpreter), and marked
"(router)". Exit 0 when every host is ready, 1 when one is not (what a deployment would
refuse). With `app.release`, a RELEASES column lists the service's complete releases on
each host, newest first, and names the stable or previous revision's version where it is
missing (a host replaced with an empty disk: an abort or a rollback would go there).
A host lacking a shared file (app.shared_files) is not ready: its PROBLEM names the file.
An OWNER column names the controller the service's deployments there belong to ("this
controller", or where another runs and since when: zerodown/owner.py); `--take-over`
makes it this one (commands/take_over.py).
`--forget HOST`: a host taken off runtime.hosts that is gone for good (commands/forget_host.py).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from zerodown.errors import RouterError, RuntimeFailure, UsageError
from zerodown.owner import identity, owner_cell
from zerodown.render import table


def cmd_hosts(args: argparse.Namespace, ctl) -> int:
    cfg = ctl.config()
    if cfg.runtime.kind != "ssh":
        raise UsageError(f"{ctl.file}: runtime {cfg.runtime.kind} runs instances on this "
                         f"machine; `zerodown hosts` checks the hosts of runtime: ssh")
    if getattr(args, "forget", None):
        from zerodown.commands.forget_host import forget
        return forget(ctl, cfg, args.forget)
    if getattr(args, "take_over", False):
        from zerodown.commands.take_over import take_over
        return take_over(ctl, cfg)
    from zerodown.hosts.preflight import preflight
    from zerodown.hosts.shared_paths import spec
    from zerodown.runtimes import connections_for, with_router_host
    connections = connections_for(cfg)  # asyncssh loads only here
    options = connections.options
    lb = cfg.router.host
    with_router_host(connections, cfg)  # checked like the others, then for its balancer below
    try:
        reports = preflight(connections, options.state_dir,
                            shared=spec(options.state_dir, cfg.service, cfg.app),
                            owner_dir=f"{options.state_dir.rstrip('/')}/services/{cfg.service}")
        if lb is not None:
            reports = [_router_ready(ctl, cfg, r) if r.host == lb else r for r in reports]
        addresses = {r.host: _address(connections, r.host) if answered(r) else None
                     for r in reports}
        present = _releases(connections, cfg, options, reports) if cfg.app.release else None
    finally:
        connections.close()
    needed = list(ctl.store().rollback_versions(cfg.service)) \
        if present is not None and ctl.has_state() else []
    me = identity(ctl.state_dir, make=False)  # a look: no id made
    if getattr(args, "json", False):
        from zerodown.render_json import hosts_dict
        print(json.dumps(hosts_dict(reports, addresses, present, needed, me.id), indent=2))
        return 0 if all(r.ready for r in reports) else 1
    releases = ("RELEASES",) if present is not None else ()  # a column only with app.release
    rows = [(r.host + (" (router)" if r.host == lb else ""), addresses[r.host] or "-",
             "yes" if r.ready else "no",
             f"{r.free_mb / 1024:.1f} GB" if r.free_mb is not None else "-",
             *((releases_cell(present.get(r.host), needed),) if present is not None else ()),
             owner_cell(r.owner, me) if r.owner_read else "-",
             r.problem or "") for r in reports]
    print(table(("HOST", "ADDRESS", "READY", "FREE", *releases, "OWNER", "PROBLEM"), rows))
    return 0 if all(r.ready for r in reports) else 1


def _releases(connections, cfg, options, reports) -> dict[str, list[str] | None]:
    """Each host of runtime.hosts that answered: its complete releases of the service, newest
    first (a release is complete once its manifest is in place: hosts/releases.py)."""
    import shlex
    from concurrent.futures import ThreadPoolExecutor
    from zerodown.hosts.releases import MANIFEST
    base = shlex.quote(f"{options.state_dir.rstrip('/')}/releases/{cfg.service}")
    command = f"cd {base} 2>/dev/null && ls -1t -- */{MANIFEST} 2>/dev/null; true"
    names = {spec.name for spec in options.hosts}

    def one(host: str) -> list[str] | None:
        done = connections.run(host, command, timeout=options.command_timeout)
        return [line.split("/")[0] for line in done.stdout.splitlines()] if done.ok else None
    asked = [r.host for r in reports if answered(r) and r.host in names]
    with ThreadPoolExecutor(max(1, len(asked))) as pool:
        return dict(zip(asked, pool.map(one, asked)))


def answered(report) -> bool:
    """Whether the host answered its check (its free space is known), ready or not: its
    address and releases are then shown beside the problem (a shared file missing, too
    little space, router.host lacking its balancer), not "-" as for a host not reached."""
    return report.free_mb is not None


def releases_cell(present: list[str] | None, needed: list[str]) -> str:
    """The RELEASES column of a host (pure): its releases, then those it lacks that an abort
    or a rollback would run."""
    from zerodown.render_json import missing_releases
    if present is None:
        return "-"
    missing = missing_releases(present, needed)
    shown = " ".join(present) or "none"
    return shown + (f" (missing: {', '.join(missing)})" if missing else "")


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
