"""Where instances run: `local` processes on this machine, or `ssh` hosts (runtimes/ssh.py).

    runtime = runtime_for(config, state_dir)   # a Runtime (zerodown.protocols)

The runtimes and their release code are imported when a function here asks for them:
loading a config imports this package (runtime.options are parsed by ssh_options.py),
and the local runtime's imports (http.client, email, subprocess) cost each
`zerodown deploy`'s check of its config before its request for nothing.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

from zerodown.config import ServiceConfig
from zerodown.errors import UsageError

__all__ = ["runtime_for", "check_release", "connections_for", "listed_as"]


def runtime_for(config: ServiceConfig, state_dir: str | os.PathLike, kept=None):
    """The runtime `config.runtime.kind` names, keeping its state in `state_dir`. `kept`:
    a long-lived controller's KeptConnections (runtimes/kept.py), for an ssh runtime's."""
    if config.runtime.kind == "local":
        from zerodown.runtimes.local import LocalRuntime
        return LocalRuntime(state_dir, config)
    if config.runtime.kind == "ssh":
        from zerodown.runtimes.ssh import SshRuntime  # asyncssh loads only for a fleet
        return SshRuntime(state_dir, config, kept)
    raise UsageError(f"runtime kind {config.runtime.kind!r} is not available yet "
                     f"(available: local, ssh)")


def check_release(config: ServiceConfig, version: str,
                  state_dir: str | os.PathLike | None = None) -> None:
    """What Runtime.check_release checks, without building a runtime (which makes its state
    directory) or uploading a release: for `zerodown plan`, which changes nothing, and a
    first `up` before it starts anything. `state_dir`: the controller's, whose deployment
    another controller's service on a host refuses (zerodown/owner.py)."""
    from zerodown.runtimes import release
    if config.runtime.kind == "local":
        release.check_release(config, version)
    elif config.runtime.kind == "ssh":  # the working directory is on the hosts
        release.check_release(replace(config, app=replace(config.app, cwd=None)), version)
        _fleet_ready(config, state_dir)


def connections_for(config: ServiceConfig, kept=None):
    """The SSH connections of an ssh runtime's config (runtime options parsed: a bad one
    names its key and line); paths in them are relative to the config's folder. `kept`:
    the KeptConnections they are taken from (made there once)."""
    from zerodown.hosts.connections import Connections  # asyncssh loads only for a fleet
    options, folder = _options(config)
    if kept is None:
        return Connections(options, folder)
    return kept.get(options, folder, lambda: Connections(options, folder))


def listed_as(config: ServiceConfig) -> Callable[[str], str | None] | None:
    """SshRuntime.listed_as for `config` without building a runtime (`zerodown plan`):
    None for a runtime with no fleet."""
    if config.runtime.kind != "ssh":
        return None
    from zerodown.runtimes.listed_names import ListedNames
    return ListedNames(*_options(config)).listed_as


def _options(config: ServiceConfig):
    """(SshOptions, the folder relative paths in them start from): a bad option names its
    key and line."""
    from zerodown.runtimes import release
    from zerodown.runtimes.ssh_options import parse_options
    return (parse_options(config.runtime.options, file=config.file, lines=config.lines),
            release.folder(config))


def with_router_host(connections, config: ServiceConfig) -> None:
    """router.host among the hosts `connections` know (after runtime.hosts), so that a
    pre-flight of every host they know asks it too (its files are in state_dir there)."""
    from zerodown.runtimes.ssh_options import parse_host
    lb = config.router.host
    if lb is not None:
        connections.specs.setdefault(lb, parse_host(lb))


def _fleet_ready(config: ServiceConfig, controller: str | os.PathLike | None) -> None:
    """Every host's pre-flight (zerodown/hosts/preflight.py), as before a deployment: a
    plan a host not ready could not carry out (router.host's too) is refused naming it,
    and so is one another controller's service there would refuse (with `controller`,
    this one's state folder: its identity read, never made). Nothing is uploaded or
    recorded."""
    from zerodown.hosts.preflight import preflight, refuse_unless_ready
    from zerodown.hosts.shared_paths import spec
    from zerodown.owner import identity, judged
    connections = connections_for(config)
    with_router_host(connections, config)
    state_dir = connections.options.state_dir
    owner_dir = f"{state_dir.rstrip('/')}/services/{config.service}" if controller else None
    try:
        reports = preflight(connections, state_dir,
                            shared=spec(state_dir, config.service, config.app),
                            owner_dir=owner_dir)
    finally:
        connections.close()
    if controller is not None:
        me = identity(Path(controller), make=False)
        reports = [judged(r, me, config.service) for r in reports]
    refuse_unless_ready(reports)
