"""`runtime: {kind: ssh, ...}` options, checked with errors that name `runtime.<key>`.

    runtime:
      kind: ssh
      hosts: [app1, app2, deploy@10.0.0.13:2222]   # ssh_config names, or [user@]address[:port]
      ssh_config: ./ssh_config                      # OpenSSH format (Host, HostName, User, Port, IdentityFile)
      identity_file: ~/.ssh/deploy
      known_hosts: ~/.ssh/known_hosts               # strict: an unknown host key is refused
      instances_per_host: 2                         # or the top-level `instances:`, spread evenly
      state_dir: /var/lib/zerodown                  # on each host
      connect_timeout: 10s                          # one connection's set-up
      command_timeout: 60s                          # any one remote step
      keepalive: 15s                                # a silent connection is probed this often

Relative paths are relative to zerodown.yaml's folder (resolved by the runtime).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from zerodown.schema import Invalid, duration, integer, shown, text
from zerodown.schema_sections import driver_options

# [user@]host[:port]; host: an ssh_config name, a DNS name or an IPv4 address, or [IPv6]
_HOST = re.compile(r"^(?:(?P<user>[A-Za-z_][A-Za-z0-9_.-]{0,31})@)?"
                   r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]{1,253})(?::(?P<port>\d{1,5}))?$")
_STATE_DIR = r"^/[!-~]{0,1023}$"
_CONFIG_LINE = re.compile(r"^\s*([A-Za-z]\w*)(?:\s*=\s*|\s+|$)(.*)")  # ssh_config(5)


@dataclass(frozen=True)
class HostSpec:
    """One entry of runtime.hosts, as written: `name` is how zerodown calls the host."""

    name: str
    host: str
    user: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class SshOptions:
    hosts: tuple[HostSpec, ...] = ()
    ssh_config: str | None = None
    identity_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    instances_per_host: int | None = None
    state_dir: str = "/var/lib/zerodown"
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    keepalive: float = 15.0
    keep_releases: int = 5


def parse_host(value: Any) -> HostSpec:
    if not isinstance(value, str) or not (m := _HOST.match(value)):
        raise Invalid(f"must be an ssh_config name or [user@]address[:port], got {shown(value)}")
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 1 <= port <= 65535:
        raise Invalid(f"port must be 1-65535, got {port}")
    return HostSpec(value, m["host"].strip("[]"), m["user"], port)


def _hosts(value: Any) -> tuple[HostSpec, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"must be a non-empty list of hosts, got {shown(value)}")
    specs = tuple(parse_host(v) for v in value)
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise Invalid(f"lists {', '.join(twice)} more than once")
    return specs


PARSERS = {
    "hosts": _hosts,
    "ssh_config": text().parse, "identity_file": text().parse, "known_hosts": text().parse,
    "instances_per_host": integer(1, 1000).parse,
    "state_dir": text(_STATE_DIR, "an absolute path on the hosts").parse,
    "connect_timeout": duration(0.1, 600).parse, "command_timeout": duration(0.1, 86400).parse,
    "keepalive": duration(0.1, 3600).parse,
    "keep_releases": integer(2, 100).parse,
}


# A host's pre-flight round trip (hosts/preflight.py), whatever command_timeout says: a
# look, not a step. Here, where the command line can read it without loading asyncssh.
CHECK_TIMEOUT = 10.0


def release_check_bound(opts: SshOptions) -> float:
    """How long a release check (runtimes/ssh_release.py, before a deployment takes its
    revision) may take at most with these options: a connection opened, the pre-flight
    round trip, then three steps of command_timeout each one after the other (the
    preparation or the claim, the files sent, the commit). A command line waiting for the
    controller that runs it waits that long (commands/connect.py: release_wait)."""
    return opts.connect_timeout + CHECK_TIMEOUT + 3 * opts.command_timeout


def parse_options(options: Mapping[str, Any], *, file: str | None = None,
                  lines: Mapping[str, int] | None = None) -> SshOptions:
    """SshOptions from `runtime:` options; a ConfigError naming runtime.<key> otherwise."""
    values, error = driver_options("runtime", "ssh", PARSERS, options, file=file, lines=lines)
    if "hosts" not in values:
        raise error("hosts", "runtime kind ssh needs hosts: [app1, deploy@10.0.0.13:2222, ...]")
    return SshOptions(**values)


def host_names(options: Mapping[str, Any], folder: str = ".") -> list[str]:
    """The hosts zerodown can name (router.host): runtime.hosts, then the Host entries of
    runtime.ssh_config without wildcards. ValueError/OSError if the options are bad."""
    try:
        names = [spec.name for spec in _hosts(options.get("hosts"))]
    except Invalid as e:
        raise ValueError(str(e)) from None
    config = options.get("ssh_config")
    if isinstance(config, str):
        for keyword, values in config_entries(os.path.join(folder, os.path.expanduser(config))):
            if keyword == "host":
                names += [w for w in values if not set(w) & set("*?!") and w not in names]
    return names


LOCAL_FILES = ("known_hosts", "identity_file", "ssh_config")  # read on this machine


def local_path(folder: str, path: str) -> str:
    """A file of the options as this machine reads it: `~` expanded, relative to `folder`
    (zerodown.yaml's), normalised: messages name it (not `/srv/app/./known_hosts`)."""
    return os.path.normpath(os.path.join(folder, os.path.expanduser(path)))


def unreadable(opts: SshOptions, folder: str) -> list[tuple[str, str, str]]:
    """(key, path, why) of each file of LOCAL_FILES that cannot be read: named with its key
    by `validate` (config_files.py) and by a connection (asyncssh names neither)."""
    found = []
    for key in LOCAL_FILES:
        value = getattr(opts, key)
        if value is None:
            continue
        path = local_path(folder, value)
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            found.append((key, path, str(e.strerror or e)))
    return found


def chooses_ciphers(ssh_config: str) -> bool:
    """Whether an ssh_config file may choose the ciphers: a `Ciphers` line (any host's, to
    be safe), or an `Include` that could hold one. False when there is no such file."""
    try:
        return any(key in ("ciphers", "include") for key, _ in config_entries(ssh_config))
    except OSError:
        return False


def config_entries(path: str) -> Iterator[tuple[str, list[str]]]:
    """Each line of an OpenSSH client config file as (keyword in lower case, its values);
    OSError if it cannot be read. `Keyword=value` is OpenSSH's other spelling."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if m := _CONFIG_LINE.match(line):
                yield m[1].lower(), m[2].split()
