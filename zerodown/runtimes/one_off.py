"""What a one-off command (`zerodown exec`) gets: a version's app filled as for an instance,
without what only an instance has. Pure, but for reading env_file and secrets.

    app, dropped = fill(app, "v3", host="10.0.0.11")   # {version} and {host} filled
    env = instance_env(cfg, app)                        # as an instance's, minus the marks
    cwd = local_cwd(cfg, app)                           # local runtime: where it runs here

Its environment is an instance's (runtimes/release.py instance_env: the base PATH,
HOME..., app.env_file, app.env, app.secrets) but for two things: an app.env value that
uses {port}, {slot} or {instance} is left out (no instance, no port: `dropped` names
them, and exec says so), and ZERODOWN_INSTANCE / ZERODOWN_STATE_DIR are not set (they
mark an instance's processes: a one-off must not be taken for one). {version} is the
version it runs in, {host} the host's address as this machine reaches it (127.0.0.1 for
the local runtime). Secrets are read from this command's environment, not the
controller service's.
"""

from __future__ import annotations

import os
import string
from dataclasses import replace

from zerodown.config import AppConfig, ServiceConfig
from zerodown.errors import UsageError
from zerodown.log_lines import prefixed
from zerodown.runtimes.release import resolve

KNOWN = ("version", "host")  # the placeholders a one-off can fill; the others are an instance's


def fields(text: str | None) -> set[str]:
    """The placeholders `text` uses ({port} -> "port")."""
    if text is None:
        return set()
    return {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(text)
            if f}


def fill(app: AppConfig, version: str, host: str) -> tuple[AppConfig, tuple[str, ...]]:
    """`app` with {version} and {host} filled, and the app.env names left out because
    their values need an instance's placeholder; UsageError for a cwd, release or
    env_file that needs one (where to run, or what to read, would be a guess)."""
    for key in ("cwd", "release", "env_file"):
        unknown = sorted(fields(getattr(app, key)) - set(KNOWN))
        if unknown:
            raise UsageError(f"app.{key} {getattr(app, key)!r} uses "
                             f"{', '.join('{' + u + '}' for u in unknown)}, which only an "
                             f"instance has: `zerodown exec` runs outside any instance")
    dropped = tuple(sorted(k for k, v in app.env.items() if fields(v) - set(KNOWN)))
    kept = replace(app, command=(), env={k: v for k, v in app.env.items() if k not in dropped})
    return kept.render(version=version, host=host), dropped


def local_cwd(cfg: ServiceConfig, app: AppConfig) -> str:
    """Where the local runtime's instances of the filled `app` run: app.release's folder
    with app.cwd inside it, relative to zerodown.yaml's folder."""
    cwd = resolve(cfg, os.path.join(app.release or ".", app.cwd or "."))
    if not os.path.isdir(cwd):
        raise UsageError(f"the working directory {cwd} does not exist (app.release "
                         f"{app.release!r}, app.cwd {app.cwd!r}, relative to {cfg.file})")
    return cwd


def remote_cwd(base: str, app: AppConfig) -> str:
    """Where a fleet host's instances of the filled `app` run: its release folder there
    (or the service's folder without app.release), app.cwd inside it."""
    return os.path.normpath(os.path.join(base, app.cwd or "."))


def command_words(words: list[str]) -> list[str]:
    """The command after `zerodown exec [options]`, a leading `--` taken away."""
    if words[:1] == ["--"]:
        words = words[1:]
    if not words:
        raise UsageError("zerodown exec needs a command: zerodown exec -- bin/migrate "
                         "(argv, run without a shell; write sh -c '...' for one)")
    return words


def chosen_hosts(names: list[str], every: bool, host: str | None,
                 interactive: bool = False) -> list[str] | None:
    """The hosts to run on: every one, the one named, or None (the first that answers:
    first_answering)."""
    if host is not None and host not in names:
        raise UsageError(f"--host {host!r} is not one of runtime.hosts ({', '.join(names)})")
    if every and host is not None:
        raise UsageError("--all and --host: name one host, or ask for every one")
    if every and interactive:
        raise UsageError("-i and --all: -i gives one command this stdin (and terminal), "
                         "and --all runs one on every host at once; name one with --host "
                         "(or leave it out: the first host that answers)")
    return list(names) if every else [host] if host is not None else None


def first_answering(names: list[str], said: dict[str, bool]) -> str | None:
    """The default host once `said` (host -> did it answer?) is known for some: the first
    of `names` that answered, when every one listed before it said it did not; None while
    one listed before is still asked (the caller bounds that wait: commands/one_off.py)."""
    for name in names:
        if name not in said:
            return None
        if said[name]:
            return name
    return None


class Prefixed:
    """One host's output as whole lines, each prefixed `host | ` (as `zerodown logs`)."""

    def __init__(self, name: str, width: int):
        self.name, self.width, self.partial = name, width, b""

    def lines(self, data: bytes) -> bytes:
        *whole, self.partial = (self.partial + data).split(b"\n")
        return b"".join(prefixed(self.name, line + b"\n", self.width) for line in whole)

    def rest(self) -> bytes:
        """A last line the output did not end, ended."""
        rest, self.partial = self.partial, b""
        return prefixed(self.name, rest + b"\n", self.width) if rest else b""
