"""`zerodown proxy table|deploy|list`: drive a running proxy by hand, without a controller.

    zerodown proxy table get  --admin unix:/tmp/zd/admin.sock          # the table in force, JSON
    zerodown proxy table set table.json --admin unix:/tmp/zd/admin.sock   # a whole table (- : stdin)
    zerodown proxy deploy v2 --target 127.0.0.1:9002 --admin ...        # every request to v2's targets,
                                                                      # once each answers its health check
    zerodown proxy list --admin ...                                   # revisions, weights, backends
    zerodown proxy deploy v1 --service shop --host shop.example.com --target ...   # one of several
    zerodown proxy services --admin ...                               # the services and their sites
    zerodown proxy remove --service shop --admin ...                  # its routes go, backends drain

`--service NAME` addresses one of several services sharing the proxy (docs/proxy.md,
"Several services"); without it, the default service. `deploy --host/--path-prefix`
registers the service with that site first (kamal-proxy's `deploy --host --path-prefix`;
its backends see paths without the prefix unless `--strip-path-prefix=false`, as there).

Like kamal-proxy's `deploy` (its flag names --health-check-path and --deploy-timeout
work here too): the new targets are probed first and the table is
swapped only once every one is healthy; if one is not, nothing changes. A table
without `version` gets the one in force plus one (so a hand-written file need not
track it); an explicit older version is refused by the proxy (409), as always.
The admin address and token may come from $ZERODOWN_ADMIN and $ZERODOWN_ADMIN_TOKEN.
The format is docs/proxy.md's (zerodown/table_json.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time

from zerodown import table_json
from zerodown.errors import TableError, UsageError, ZerodownError
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.proxy.client import AdminClient

COMMANDS = ("table", "deploy", "list", "services", "remove")
EXAMPLES = """\
examples:
  zerodown proxy table get --admin unix:/tmp/zd/admin.sock > table.json
  zerodown proxy table set table.json --admin unix:/tmp/zd/admin.sock
  zerodown proxy deploy v2 --target 127.0.0.1:9002 --target 127.0.0.1:9003 --admin unix:/tmp/zd/admin.sock
  zerodown proxy list --admin unix:/tmp/zd/admin.sock
  zerodown proxy deploy v1 --service shop --host shop.example.com --target 127.0.0.1:9001 --admin unix:/tmp/zd/admin.sock
  zerodown proxy services --admin unix:/tmp/zd/admin.sock
  zerodown proxy remove --service shop --admin unix:/tmp/zd/admin.sock"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerodown proxy", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Read or change a running proxy's routing table.")
    sub = p.add_subparsers(dest="command", required=True)

    def admin(q: argparse.ArgumentParser, service: bool = True) -> None:
        q.add_argument("--admin", default=os.environ.get("ZERODOWN_ADMIN"),
                       help="the proxy's admin address: unix:PATH or HOST:PORT ($ZERODOWN_ADMIN)")
        q.add_argument("--admin-token", default=os.environ.get("ZERODOWN_ADMIN_TOKEN"),
                       help="bearer token of a TCP admin listener ($ZERODOWN_ADMIN_TOKEN)")
        if service:
            q.add_argument("--service", default=None,
                           help="one of several services sharing the proxy (default: the "
                                "proxy's default service)")

    table = sub.add_parser("table", help="get or set the whole routing table (JSON)",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = table.add_subparsers(dest="verb", required=True)
    admin(verbs.add_parser("get", help="print the table in force"))
    put = verbs.add_parser("set", help="apply a whole table from FILE (- for stdin)")
    put.add_argument("file")
    admin(put)
    deploy = sub.add_parser("deploy", help="send every request to REVISION's targets once healthy",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    deploy.add_argument("revision", help="a name for what the targets run, e.g. v2")
    deploy.add_argument("--target", action="append", required=True, metavar="HOST:PORT",
                        help="a backend (repeatable)")
    deploy.add_argument("--health-path", "--health-check-path", default="/healthz",
                        help="probed with GET on each target until it answers 200 (default "
                             "/healthz; empty: no check)")
    deploy.add_argument("--health-timeout", "--deploy-timeout", type=float, default=30.0,
                        help="seconds each target may take to become healthy (default 30)")
    deploy.add_argument("--host", action="append", default=None, metavar="NAME",
                        help="with --service: register it for this host name (exact or "
                             "*.example.com; repeatable) before deploying")
    deploy.add_argument("--path-prefix", default=None,
                        help="with --service: register it for this path prefix (default /)")
    deploy.add_argument("--strip-path-prefix", type=_true_or_false, default=True, nargs="?",
                        const=True, metavar="true|false",
                        help="with --path-prefix: the backend gets the path without the prefix "
                             "(and X-Forwarded-Prefix); false: unchanged (default true, as "
                             "kamal-proxy)")
    admin(deploy)
    admin(sub.add_parser("list", help="revisions, weights and backends in force",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter))
    admin(sub.add_parser("services", help="the services sharing the proxy and their sites",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter),
          service=False)
    remove = sub.add_parser("remove", help="remove --service: its routes go, its backends drain",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    admin(remove)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        if not args.admin:
            raise UsageError("--admin: the proxy's admin address is needed (unix:PATH or "
                             "HOST:PORT), or $ZERODOWN_ADMIN")
        client = AdminClient(args.admin, args.admin_token, service=getattr(args, "service", None))
        if args.command == "services":
            print(services_listing(client.services()))
        elif args.command == "remove":
            if not args.service:
                raise UsageError("remove: --service NAME says which service to remove")
            left = client.unregister()
            print(f"service {args.service} removed; its backends drain (remaining: "
                  f"{', '.join(left) or 'none'})")
        elif args.command == "table" and args.verb == "get":
            print(table_json.dumps(client.table(), indent=1))
        elif args.command == "table":
            print(apply(client, read_table(args.file, client)))
        elif args.command == "deploy":
            if args.host is not None or args.path_prefix is not None:
                if not args.service:
                    raise UsageError("deploy --host/--path-prefix register a service: add "
                                     "--service NAME")
                client.register(args.host or [], args.path_prefix or "/",
                                strip_prefix=args.strip_path_prefix)
            print(deploy(client, args.revision, args.target, args.health_path,
                         args.health_timeout))
        else:
            print(listing(client.table()))
    except TableError as e:
        print(f"zerodown proxy: table refused: {e}", file=sys.stderr)
        return 2
    except ZerodownError as e:
        print(f"zerodown proxy: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    return 0


def read_table(path: str, client: AdminClient) -> RoutingTable:
    """The table in `path` (`-`: stdin); without a version, the one in force plus one."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        data = json.loads(text)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise TableError(f"{path} is not valid JSON: {e}") from None
    if isinstance(data, dict) and "version" not in data:
        current = client.table()
        data = {**data, "version": current.version + 1, "epoch": data.get("epoch",
                                                                          current.epoch)}
    return table_json.from_dict(data)


def apply(client: AdminClient, table: RoutingTable) -> str:
    changed = client.apply(table)
    return f"table v{table.version} {'applied' if changed else 'already in force: nothing changed'}"


def deploy(client: AdminClient, revision: str, targets: list[str], health_path: str,
           timeout: float) -> str:
    """All traffic to `revision`'s targets, once each answers its health check."""
    backends = tuple(Backend(f"{revision}-{i}", t) for i, t in enumerate(targets))
    current = client.table()
    table = table_json.from_dict({**table_json.to_dict(RoutingTable(
        current.version + 1, (RevisionRoute(revision, 100, backends),),
        health_check=current.health_check, epoch=current.epoch))})  # checks the targets' form
    if health_path:
        for target in targets:
            wait_healthy(target, health_path, timeout)
    client.apply(table)
    return (f"{revision} serves every request ({len(targets)} target"
            f"{'s' if len(targets) > 1 else ''}, table v{table.version}); the previous "
            f"backends drain")


def wait_healthy(target: str, path: str, timeout: float) -> None:
    host, _, port = target.rpartition(":")
    deadline, seen = time.monotonic() + timeout, "no answer"
    while True:
        try:
            conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=2)
            conn.request("GET", path, headers={"Connection": "close"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
            seen = f"HTTP {status}"
        except OSError as e:
            seen = str(e) or type(e).__name__
        if time.monotonic() >= deadline:
            raise ZerodownError(f"target {target} did not answer 200 on {path} within "
                                f"{timeout:g}s (last: {seen}); the table is unchanged")
        time.sleep(0.1)


def _true_or_false(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"true or false, got {text!r}")
    return text.lower() == "true"


def services_listing(listing: dict) -> str:
    default = listing["default"]
    lines = [f"default service {default}: "
             + ("takes every host no service names" if listing.get("default_routed")
                else "empty, unknown hosts get 404")
             + f" ({listing.get('unknown_host', 0)} answered 404 so far)"]
    for name, entry in listing["services"].items():
        hosts = ", ".join(entry["hosts"]) or "any host"
        kept = entry["path_prefix"].strip("/") and not entry.get("strip_path_prefix", True)
        lines.append(f"  {name:<16} {hosts} {entry['path_prefix']}"
                     + (" (kept in the path)" if kept else "") + f"  table v{entry['version']}"
                     + (f"  ({entry['config']})" if entry.get("config") else ""))
    return "\n".join(lines)


def listing(table: RoutingTable) -> str:
    lines = [f"table v{table.version}" + (f" (epoch {table.epoch})" if table.epoch else "")]
    for r in table.revisions:
        lines.append(f"  {r.name:<12} {r.weight:>6.4g}%  " +
                     (", ".join(f"{b.id} {b.address}" for b in r.backends) or "no backends"))
    for rule in table.rules:
        what = f"header {rule.header}" if rule.header else f"cookie {rule.cookie}"
        test = f"= {rule.equals}" if rule.equals is not None else f"~ /{rule.regex}/"
        lines.append(f"  rule: {what} {test} → {rule.revision}")
    if table.sticky:
        lines.append(f"  sticky by {table.sticky.mode} {table.sticky.name}")
    if not table.revisions:
        lines.append("  (empty: every request gets 503)")
    return "\n".join(lines)
