"""What the services already on a shared embedded proxy hold, and whether one more
zerodown.yaml conflicts with them (`router: {kind: embedded, shared: NAME, ...}`).

    found = read_here(shared_dir("edge"))                         # this machine's proxy
    found = read_on(connections, "lb1", "/srv/zerodown/proxies/edge", 10.0)  # router.host's
    for key, why in conflicts(service, options, listen, config_file, found, "edge"): ...

The proxy keeps each service's registration in <its folder>/proxy.services/SERVICE.json
and its listen address in proxy.pid. `validate` (and every load, for the proxy on this
machine) reads them and judges before `up` registers the service, which the proxy refuses
on a conflict too. On router.host the reading is one read-only command over the ssh
runtime's connection (nothing is installed or written there): HostFailure when the host
does not answer, RuntimeFailure when the command fails there.
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
from dataclasses import dataclass
from functools import cache

from zerodown.errors import HostFailure, RuntimeFailure, UsageError
from zerodown.proxy.hosts import HostTable, Site
from zerodown.routers.embedded_options import EmbeddedOptions

SERVICES = "proxy.services"


@dataclass(frozen=True)
class Registered:
    """The text of each SERVICE.json of a shared proxy (by file name), and of its proxy.pid
    (None: no proxy recorded as running)."""

    services: dict[str, str]
    pid: str | None = None


def read_here(folder: str) -> Registered:
    """The registrations of the shared proxy whose folder on this machine is `folder`."""
    found = _read(folder)
    return Registered(found["services"], found["pid"])


def _read(folder: str) -> dict:
    """read_here's reading as JSON data. Its source is what router.host runs (_remote_script),
    so it names nothing but os, SERVICES and _text."""
    services = os.path.join(folder, SERVICES)
    try:
        names = sorted(f for f in os.listdir(services) if f.endswith(".json"))
    except OSError:
        names = []
    texts = {name: _text(os.path.join(services, name)) for name in names}
    return {"services": {n: t for n, t in texts.items() if t is not None},
            "pid": _text(os.path.join(folder, "proxy.pid"))}


def _text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


@cache
def _remote_script() -> str:
    """What the host's python3 runs (the agent needs it there too): _read's and _text's
    own source, printing _read's answer as JSON; a reading here and one there cannot differ."""
    return ("from __future__ import annotations\nimport json, os, sys\n"
            f"SERVICES = {SERVICES!r}\n\n{inspect.getsource(_text)}\n"
            f"{inspect.getsource(_read)}\nprint(json.dumps(_read(sys.argv[1])))\n")


def read_on(connections, host: str, folder: str, timeout: float) -> Registered:
    """The registrations of the shared proxy in `folder` on `host`, in one read-only
    command over `connections` (zerodown/hosts/connections.py)."""
    command = f"python3 -c {shlex.quote(_remote_script())} {shlex.quote(folder)}"
    done = connections.run(host, command, timeout=timeout)
    if done.status is None:
        raise HostFailure(f"host {host}: reading {folder} has an unknown outcome: "
                          f"{done.stderr.strip()}", host)
    try:
        if not done.ok:
            raise ValueError(done.stderr.strip()[-300:] or f"exit {done.status}")
        data = json.loads(done.stdout)
        services = {str(n): t for n, t in data["services"].items() if isinstance(t, str)}
        pid = data["pid"] if isinstance(data["pid"], str) else None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise RuntimeFailure(f"host {host}: cannot read {folder}: {e}") from None
    return Registered(services, pid)


def conflicts(service: str, options: EmbeddedOptions, listen: str, config_file: str,
              found: Registered, name: str) -> list[tuple[str, str]]:
    """What another zerodown.yaml already holds on the shared proxy `name` (as messages
    call it: "edge", "edge on lb1"): the same host and path prefix, the same service name,
    another listen address. [(key, why)]."""
    mine = os.path.abspath(config_file)
    others: dict[str, tuple[Site, str]] = {}
    for file, text in found.services.items():
        try:
            entry = json.loads(text)
            site = Site(file[:-5], tuple(entry.get("hosts") or ()),
                        entry.get("path_prefix") or "/")
            others[site.service] = (site, str(entry.get("config") or ""))
        except (ValueError, AttributeError):
            continue  # the proxy reports a damaged file when it starts
    out = []
    held = others.pop(service, None)
    if held is not None and held[1] and held[1] != mine:
        out.append(("service", f"service {service} is already on shared proxy {name}, "
                               f"registered by {held[1]}: give this one another service name"))
    me = Site(service, options.hosts or (), options.path_prefix or "/")
    for other, (site, file) in others.items():
        try:
            HostTable([site, me])
        except UsageError as e:
            out.append(("router.hosts" if options.hosts else "router.path_prefix",
                        f"{e} on shared proxy {name}: {other} is "
                        f"{file or 'registered by hand'}, {service} is {mine}"))
    try:
        running = json.loads(found.pid).get("listen") if found.pid else None
    except (ValueError, AttributeError):
        running = None
    if running and running != listen:
        out.append(("listen", f"shared proxy {name} listens on {running}: every "
                              f"zerodown.yaml sharing it says listen: {running}"))
    return out
