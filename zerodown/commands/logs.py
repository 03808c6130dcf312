"""`zerodown logs`: one instance's output, or every instance's at once, each line with the
time it was written (the runtime stamps it), from --since, followed with --follow."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from zerodown import log_lines
from zerodown.controller import Controller
from zerodown.errors import UsageError
from zerodown.hosts import files
from zerodown.model import Instance, fleet_hosts

FOLLOW_POLL = 0.2


def known_logs(ctl: Controller, live: bool) -> dict[str, Path]:
    """{instance name: its log}: the store's instances (live only, or every one), and with
    `live` False the log files of instances the store no longer has."""
    cfg = ctl.working_config()
    logs = ctl.state_dir / "logs"
    found: dict[str, Path] = {}
    if not live and logs.is_dir():
        found.update({p.stem: p for p in logs.glob("*.log")})
    if ctl.has_state():
        runtime = ctl.runtime(cfg)
        for ref, row in ctl.store().instances(cfg.service, live=live).items():
            found[ref.name(cfg.service)] = Path(runtime.logs(
                Instance(cfg.service, ref.revision, ref.slot, "", runs_on=row.runs_on)))
    return dict(sorted(found.items()))


def log_path(ctl: Controller, name: str) -> Path:
    """An instance's log by its name (shop-r2-s0, or just r2-s0), or `proxy`, or `controller`."""
    if name == "proxy":  # a shared proxy's is in its own state directory
        router = ctl.router(ctl.working_config())
        return Path(router.log_path) if getattr(router, "shared", None) else \
            ctl.state_dir / "proxy.log"
    if name == "controller":
        return ctl.state_dir / "controller.log"
    known = known_logs(ctl, live=False)
    matches = [n for n in known if n == name] or [n for n in known if n.endswith("-" + name)]
    if len(matches) != 1:
        what = "matches several" if matches else "is not an instance"
        shown = ", ".join(list(known)[-12:]) or "none yet"
        raise UsageError(f"{name!r} {what} (known: {shown}; also `proxy`, `controller`)")
    return known[matches[0]]


def _read(path: Path) -> tuple[list[bytes], int]:
    """The log's lines (its rotated part's first: files.read_log), and where to read on."""
    start, end, data = files.read_log(str(path), -files.MAX_READ)
    lines = data.splitlines(keepends=True)
    return lines[1:] if start > 0 else lines, end  # begun inside a line: from the next


def cmd_logs(args: argparse.Namespace, ctl: Controller) -> int:
    cfg = ctl.config()
    if args.instance_option is not None:
        if args.instance is not None and args.instance != args.instance_option:
            raise UsageError(f"two instances named: {args.instance} and --instance "
                             f"{args.instance_option}; name one")
        args.instance = args.instance_option
    after = None
    if args.since is not None:
        try:
            after = log_lines.since_time(args.since, time.time())
        except ValueError as e:
            raise UsageError(str(e)) from None
    if cfg.router.host is not None and args.instance == "proxy":  # on router.host
        from zerodown.commands.remote_logs import RemoteLog, show
        router = ctl.router(cfg)
        return show(ctl.runtime(cfg), [RemoteLog(cfg.router.host, "proxy", str(router.log_path))],
                    args.lines, after, args.follow)
    if cfg.runtime.kind == "ssh" and args.instance not in ("proxy", "controller"):
        return _fleet_logs(args, ctl, cfg, after)
    if args.host is not None:
        raise UsageError(f"--host picks the instances of one host of runtime: ssh; runtime "
                         f"{cfg.runtime.kind} runs them all on this machine")
    if args.instance is None or args.all:
        paths = known_logs(ctl, live=not args.all)
        if not paths:
            raise UsageError("no instance runs (`zerodown logs --all` shows stopped ones' logs)")
    else:
        paths = {args.instance: log_path(ctl, args.instance)}
        if not paths[args.instance].exists():
            raise UsageError(_no_log(ctl, cfg, paths[args.instance]))
    several = len(paths) > 1 or args.instance is None or args.all
    texts, sizes = {}, {}
    for name, path in paths.items():
        lines, sizes[name] = _read(path)
        lines = log_lines.since(lines, after)
        texts[name] = lines[-args.lines:] if args.lines else ([] if args.lines == 0 else lines)
    out = sys.stdout.buffer
    shown = log_lines.merged(texts) if several else texts[args.instance]
    if several and args.lines:
        shown = shown[-args.lines:]
    out.write(b"".join(shown))
    out.flush()
    if args.follow:
        return _follow(paths, sizes, several, out)
    return 0


def _no_log(ctl: Controller, cfg, path: Path) -> str:
    """Why an instance the store knows has no log: not begun yet, or pruned once ended."""
    if path.stem in known_logs(ctl, live=True):
        return f"{path.stem} has no log yet ({path})"
    return (f"{path.stem} ended and its log {path} was removed: logs.keep_ended keeps the "
            f"newest {cfg.logs.keep_ended} ended instances' logs of {cfg.service}")


def _fleet_logs(args: argparse.Namespace, ctl: Controller, cfg, after: float | None) -> int:
    """The instances' logs read on their hosts (commands/remote_logs.py)."""
    from zerodown.commands.remote_logs import remote_logs, show
    if not ctl.has_state():
        raise UsageError("no instance runs (nothing was deployed here yet)")
    runtime = ctl.runtime(cfg)
    live = not args.all
    hosts = fleet_hosts(cfg.runtime)
    instances = [(ref.name(cfg.service), on)
                 for ref, row in ctl.store().instances(cfg.service, live=live).items()
                 if (on := row.host(hosts)) is not None]  # (always, with a fleet's hosts)
    logs = remote_logs(runtime, instances, args.instance, args.host)
    return show(runtime, logs, args.lines, after, args.follow)


def _follow(paths: dict[str, Path], sizes: dict[str, int], several: bool, out) -> int:
    width = max(len(n) for n in paths)
    partial = {n: b"" for n in paths}
    try:
        while True:
            wrote = False
            for name, path in paths.items():
                was = sizes[name]  # (rotated since: the rest of its .1 first, no gap)
                begun, sizes[name], chunk = files.read_log(str(path), was)
                if begun < was:
                    partial[name] = b""  # truncated under us: started over
                *lines, partial[name] = (partial[name] + chunk).split(b"\n")
                for line in lines:
                    line += b"\n"
                    out.write(log_lines.prefixed(name, line, width) if several else line)
                    wrote = True
            if wrote:
                out.flush()
            else:
                time.sleep(FOLLOW_POLL)
    except KeyboardInterrupt:
        out.flush()  # what was read is shown; then cli.py: `interrupted`, exit 130
        raise
