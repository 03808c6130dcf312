"""The rules of zerodown.yaml that involve more than one key, and each driver's own
option check (a router's or runtime's), run by `zerodown validate` and every load.

config.py calls cross_checks() once every section parsed; the words an error uses
name the keys to change.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from zerodown.config_model import ServiceConfig
from zerodown.errors import ConfigError
from zerodown.schema import shown
from zerodown.schema_sections import Context, join
from zerodown.strategies.options import check_strategy


def cross_checks(ctx: Context, cfg: ServiceConfig, data: dict) -> None:
    """Rules that involve more than one key, skipped where a key is already wrong."""
    bad = {e.key or "" for e in ctx.errors}
    if cfg.health.tcp and "path" in (data.get("health") or {}):
        ctx.error("health.tcp", "tcp: true checks a TCP connect only; remove health.path or tcp")
    if cfg.health.timeout > cfg.health.start_timeout and not bad & {"health.timeout",
                                                                     "health.start_timeout"}:
        ctx.error("health.timeout", f"must not exceed health.start_timeout ({cfg.health.start_timeout:g}s)")
    strategy = data.get("strategy")
    check_strategy(ctx, cfg.strategy, strategy if isinstance(strategy, dict) else {}, bad)
    if "router.kind" not in bad:
        from zerodown.routers.capabilities import SHARED_KEYS, sharing_refusals
        sharing = sharing_refusals(cfg.router.kind, cfg.router.options)
        for key, why in sharing:
            ctx.error(key, why)
        _driver_options(ctx, "router", cfg.router.kind, {
            k: v for k, v in cfg.router.options.items() if not sharing or k not in SHARED_KEYS})
        # a shared proxy on router.host keeps its services there: `validate` asks that host
        # (not every load: it may be offline), and the proxy refuses a conflict at `up`
        if cfg.router.kind == "embedded" and cfg.router.options.get("shared") and not any(
                (e.key or "").startswith("router") for e in ctx.errors) \
                and not getattr(cfg.router, "host", None):
            _shared_conflicts(ctx, cfg)
        if not any(k.startswith(("router", "strategy")) for k in bad):
            from zerodown.routers.capabilities import refusals  # the routers import this module
            for key, why in refusals(cfg.router.kind, cfg.router.options, cfg.strategy):
                ctx.error(key, why)
    if cfg.tls is not None and cfg.router.kind == "haproxy" and "socket" in cfg.router.options:
        ctx.error("tls", "an attached HAProxy (router.socket) keeps its own bind lines: "
                         "configure TLS there, or let zerodown start HAProxy")
    if getattr(cfg.strategy, "batch_by", "count") == "host" and cfg.runtime.kind != "ssh":
        ctx.error("strategy.batch_by", f"host groups the instances of runtime: ssh by their "
                  f"host; runtime {cfg.runtime.kind} has one host (use batch_size)")
    if any(h.per_host for h in cfg.hooks.before_start) and (
            cfg.runtime.kind != "ssh" or (cfg.app is not None and cfg.app.release is None)):
        why = (f"runtime {cfg.runtime.kind} has no hosts of its own (leave per_host out)"
               if cfg.runtime.kind != "ssh" else
               "it needs app.release (e.g. releases/{version}): the folder it runs in there")
        ctx.error("hooks.before_start", f"per_host: true runs on each host of runtime: ssh; "
                                        f"{why}")
    if not bad & {"runtime.kind", "app.release"}:
        _shared_paths(ctx, cfg)
    if getattr(cfg.strategy, "max_surge_per_host", None) is not None and cfg.runtime.kind != "ssh":
        ctx.error("strategy.max_surge_per_host", f"limits each host of runtime: ssh; runtime "
                  f"{cfg.runtime.kind} has one host (max_surge limits it)")
    if cfg.router.host is not None and "runtime.kind" not in bad:
        _router_host(ctx, cfg)
    if "runtime.kind" not in bad:
        _driver_options(ctx, "runtime", cfg.runtime.kind, cfg.runtime.options)
        if cfg.runtime.kind == "ssh" and not any(k.startswith("runtime") for k in
                                                 {e.key or "" for e in ctx.errors}):
            _instances_per_host(ctx, cfg)


def _router_host(ctx: Context, cfg: ServiceConfig) -> None:
    """router.host names a host the ssh runtime can reach: one of runtime.hosts or a Host
    of runtime.ssh_config (its connection options are the runtime's)."""
    if cfg.runtime.kind != "ssh":
        ctx.error("router.host", f"a load balancer on another host is driven over the ssh "
                  f"runtime's connections: set runtime: {{kind: ssh, hosts: [...]}} "
                  f"(runtime is {cfg.runtime.kind}), or remove router.host")
        return
    from zerodown.runtimes.ssh_options import host_names
    try:
        names = host_names(cfg.runtime.options, folder=os.path.dirname(ctx.file or "."))
    except ValueError:
        return  # runtime's own check names what is wrong with its options
    except OSError as e:
        ctx.error("router.host", f"cannot read runtime.ssh_config to find {cfg.router.host!r} "
                  f"in it: {e.strerror or e}")
        return
    if cfg.router.host not in names:
        ctx.error("router.host", f"{cfg.router.host!r} is not a host zerodown can reach: "
                  f"name one of runtime.hosts or a Host of runtime.ssh_config "
                  f"({', '.join(names) or 'none'})")
    elif cfg.router.kind == "haproxy" and "socket" in cfg.router.options:
        ctx.error("router.host", "an attached HAProxy (router.socket) is driven where zerodown "
                  "runs; remove router.host or router.socket")
    elif cfg.router.kind == "nginx" and "config" in cfg.router.options:
        ctx.error("router.host", "an attached nginx (router.config) is driven where zerodown "
                  "runs; remove router.host or router.config")
    if cfg.router.kind == "nginx":
        from zerodown.strategies.shadow_options import shadows
        for key, _ in shadows(cfg.strategy):
            ctx.error(key, "nginx on router.host cannot mirror to a shadow yet: its comparator "
                           "runs beside zerodown, where nginx there does not reach it; remove "
                           "router.host (nginx beside zerodown) or use router: embedded")


def _shared_paths(ctx: Context, cfg: ServiceConfig) -> None:
    """app.shared_dirs / shared_files link paths of the release folders on the hosts: they
    need runtime: ssh and app.release, and each path is linked once (not twice, not one
    inside another, which the outer link would hide)."""
    from zerodown.hosts.shared_paths import shadowed
    if cfg.app is None:  # no app section: said already, nothing to link
        return
    lists = (("app.shared_dirs", cfg.app.shared_dirs), ("app.shared_files", cfg.app.shared_files))
    seen: list[tuple[str, str]] = []  # (path, its key)
    for key, paths in lists:
        if paths and (cfg.runtime.kind != "ssh" or (cfg.app is not None and cfg.app.release is None)):
            lacks = (f"runtime is {cfg.runtime.kind}" if cfg.runtime.kind != "ssh"
                     else "app.release is not set")
            ctx.error(key, f"{shown(paths[0])}: shared paths are linked into each release folder "
                      f"on the hosts of runtime: ssh with app.release (e.g. releases/{{version}})"
                      f"; {lacks}")
        for path in paths:
            other = next(((p, k) for p, k in seen
                          if shadowed(path, [p]) or shadowed(p, [path])), None)
            if other is not None:
                how = "is also" if other[0] == path else f"overlaps {shown(other[0])}"
                ctx.error(key, f"{shown(path)} {how} in {other[1]}: each shared path is "
                          f"listed once, and none inside another (its link would hide it)")
            seen.append((path, key))


def _shared_conflicts(ctx: Context, cfg: ServiceConfig) -> None:
    """Another zerodown.yaml on the same shared proxy (on this machine) holding this host
    and prefix; on router.host, `validate` asks that host (commands/shared_check.py)."""
    from zerodown.routers.embedded_options import parse_options, shared_dir
    from zerodown.routers.shared_registry import conflicts, read_here
    options = parse_options(cfg.router.options, file=ctx.file)
    found = read_here(shared_dir(options.shared or ""))
    for key, why in conflicts(cfg.service, options, cfg.listen, ctx.file or "zerodown.yaml",
                              found, options.shared or ""):
        ctx.error(key, why)


def _instances_per_host(ctx: Context, cfg: ServiceConfig) -> None:
    """`instances` is the fleet's total; instances_per_host must agree with it."""
    options = cfg.runtime.options
    per, hosts = options.get("instances_per_host"), len(options.get("hosts") or ())
    if per is not None and per * hosts != cfg.instances:
        ctx.error("runtime.instances_per_host", f"{per} per host × {hosts} hosts = "
                  f"{per * hosts} instances, but instances is {cfg.instances}: set "
                  f"instances: {per * hosts}, or remove one of the two")


def _driver_options(ctx: Context, section: str, kind: str, options: dict) -> None:
    """Each router's or runtime's own option check, run by `validate` (not first at `up`)."""
    check = option_check(section, kind)
    if check is None:  # a driver that takes no options
        for key in options:
            ctx.error(join(section, key), f"unknown option for {section} kind {kind} "
                      f"(it takes only kind)")
        return
    try:
        check(options, file=ctx.file)
    except ConfigError as e:
        key = e.key or section
        ctx.error(key, str(e).split(f"{key}: ", 1)[-1])


DRIVERS_WITH_OPTIONS = (("router", "embedded"), ("router", "haproxy"), ("router", "nginx"),
                        ("runtime", "ssh"))


class OptionCheck(Protocol):
    """A driver's parse_options: raises ConfigError for a wrong option."""

    def __call__(self, options: dict[str, Any], *, file: str | None = ...) -> object: ...


def option_check(section: str, kind: str) -> OptionCheck | None:
    """The option check (parse_options) of the `section` driver `kind`; None if it takes
    no options. Only that driver's module is imported: a config check (each `zerodown
    deploy` before its request) needs one router's and one runtime's, not all four.
    Imported here too because the drivers import this module for the config types."""
    check: OptionCheck
    if (section, kind) == ("router", "embedded"):
        from zerodown.routers.embedded_options import parse_options as check
    elif (section, kind) == ("router", "haproxy"):
        from zerodown.routers.haproxy_options import parse_options as check
    elif (section, kind) == ("router", "nginx"):
        from zerodown.routers.nginx_options import parse_options as check
    elif (section, kind) == ("runtime", "ssh"):
        from zerodown.runtimes.ssh_options import parse_options as check
    else:
        return None
    return check


def option_checks() -> dict:
    """Every driver's option check, by (section, kind): the config reference's."""
    return {key: option_check(*key) for key in DRIVERS_WITH_OPTIONS}
