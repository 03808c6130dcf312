"""What one version needs on this machine before it starts, and the environment it gets.

    check_release(cfg, "v9")          # ConfigError: the release folder, env_file or a secret is missing
    env = instance_env(cfg, app)      # the whole environment of one instance (app already rendered)

An instance does not inherit the controller's environment (a deploy from a
shell that happens to have DB_PASSWORD, or a virtualenv first on PATH, must
not decide what ships). It gets exactly, later entries winning:

1. PATH=/usr/local/bin:/usr/bin:/bin, and HOME, USER, LOGNAME, LANG, LC_ALL, TZ and
   TMPDIR copied from the controller when it has them (BASE_PASSED);
2. the KEY=VALUE lines of app.env_file (per version allowed: releases/{version}/.env);
3. app.env;
4. app.secrets, each read as the instance starts from the controller's environment (the
   environment the controller service was started with, by `zerodown up` or the first
   command after it stopped) or a file — their values are never written to the store,
   the registry or a log;
5. ZERODOWN_INSTANCE and ZERODOWN_STATE_DIR (how the runtime finds its processes again).

Everything the first start would read is checked by check_release at `plan` and
before a deployment takes a revision number, so a missing folder or secret is an
error naming it, not a half-done deployment.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Mapping

from zerodown.config import AppConfig, Secret, ServiceConfig
from zerodown.errors import ConfigError, RuntimeFailure
from zerodown.hosts.instances import PORT
from zerodown.model import Instance, Revision, Slot
from zerodown.schema import PLACEHOLDERS

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
BASE_PASSED = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR")
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def folder(cfg: ServiceConfig) -> str:
    """zerodown.yaml's directory: what app.cwd, env_file and secret files are relative to."""
    return os.path.dirname(os.path.abspath(cfg.file or "zerodown.yaml"))


def resolve(cfg: ServiceConfig, path: str) -> str:
    return os.path.normpath(os.path.join(folder(cfg), path))


def check_release(cfg: ServiceConfig, version: str,
                  environ: Mapping[str, str] = os.environ) -> None:
    """Raise a ConfigError listing what `version` lacks: its working directory, its
    env_file, a secret. Placeholders other than {version} are not known yet: a path
    with one ({slot}, ...) is checked when that instance starts."""
    problems = []
    app = cfg.app
    # locally the release folder is used where it is; app.cwd is inside it
    cwd = _fill(os.path.join(app.release or ".", app.cwd or "."), version)
    key = "app.cwd" if app.cwd or not app.release else "app.release"
    if cwd is not None and not os.path.isdir(resolve(cfg, cwd)):
        there = versions_there(cfg, os.path.join(app.release or ".", app.cwd or "."))
        problems.append((key, f"version {version}: release folder {resolve(cfg, cwd)} "
                              f"does not exist ({key} {getattr(app, key[4:])!r}"
                              + (f"; versions there: {', '.join(there)})" if there else ")")))
    env_file = _fill(app.env_file, version) if app.env_file else None
    if env_file is not None:
        try:
            read_env_file(resolve(cfg, env_file))
        except ConfigError as e:
            problems.append(("app.env_file", f"version {version}: {e}"))
    for i, secret in enumerate(app.secrets):
        try:
            secret_value(cfg, secret, environ)
        except ConfigError as e:
            problems.append((f"app.secrets[{i}]", str(e)))
    if problems:
        errors = [ConfigError(why, file=cfg.file, line=cfg.lines.get(key), key=key)
                  for key, why in problems]
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"version {version} cannot start:\n" + "\n".join(f"  {e}" for e in errors),
                          file=cfg.file)


def render(revision: Revision, slot: Slot, name: str, port: int, host: str) -> AppConfig:
    """The revision's app with its placeholders filled for one instance."""
    app = revision.app
    assert isinstance(app, AppConfig)
    try:
        return app.render(version=revision.version, port=port, slot=slot.index, instance=name,
                          host=host)
    except (KeyError, IndexError, ValueError) as e:
        raise RuntimeFailure(f"instance {name}: cannot fill the placeholders of app.command "
                             f"{list(app.command)} ({type(e).__name__}: {e}); allowed: "
                             + " ".join(f"{{{p}}}" for p in PLACEHOLDERS)) from None


class _LaterPort:
    """{port} before the port is known: filled in as instances.PORT, which the host's
    InstanceTable.start replaces once it has claimed one. Anything but a plain {port}
    (a format spec, an attribute) is refused, so the two-step start is taken instead."""

    def __format__(self, spec: str) -> str:
        if spec:
            raise _NotPlain
        return PORT

    __str__ = __repr__ = lambda self: PORT  # noqa: E731 ({port!s}, {port!r} of an int)

    def __getattr__(self, name: str):
        raise _NotPlain


class _NotPlain(Exception):
    pass


def render_later_port(revision: Revision, slot: Slot, name: str, host: str) -> AppConfig | None:
    """The revision's app filled for one instance with PORT for {port} (its port chosen on
    the host as it starts), or None when that cannot stand for it: then the port is
    claimed first and render() used (also for its errors)."""
    app = revision.app
    assert isinstance(app, AppConfig)
    try:
        got = app.render(version=revision.version, port=_LaterPort(), slot=slot.index,
                         instance=name, host=host)
    except Exception:  # noqa: BLE001 (any failure: the two-step start reports it)
        return None
    return None if got.env_file and PORT in got.env_file else got  # read here, before


def argv_of(app: AppConfig) -> list[str]:
    """app.command as argv (a string is split as a shell would, then run without one)."""
    command = app.command
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def instance_of(entry: dict, runs_on: str | None = None) -> Instance:
    """The Instance a registry record (zerodown/hosts/instances.py) describes; `runs_on`:
    the fleet host whose registry it is (runtime: ssh)."""
    return Instance(entry["service"], entry["revision"], Slot(entry["slot"], entry["host"]),
                    entry["address"], entry["pid"], entry.get("version"), runs_on,
                    stopping=isinstance(entry.get("stopping"), dict))


def instance_env(cfg: ServiceConfig, app: AppConfig, marks: Mapping[str, str] = {},
                 environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment of one instance; `app` is cfg.app rendered for it."""
    env = {"PATH": BASE_PATH, **{k: environ[k] for k in BASE_PASSED if k in environ}}
    if app.env_file:
        env.update(read_env_file(resolve(cfg, app.env_file)))
    env.update(app.env)
    env.update({s.name: secret_value(cfg, s, environ) for s in app.secrets})
    env.update(marks)
    return env


def secret_value(cfg: ServiceConfig, secret: Secret, environ: Mapping[str, str]) -> str:
    """The secret's value; a ConfigError that names it and where it was looked for
    (never the value) when it is not there."""
    if secret.file is not None:
        path = resolve(cfg, secret.file)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"secret {secret.name}: cannot read {path}: "
                              f"{getattr(e, 'strerror', None) or e}") from None
        return text[:-1] if text.endswith("\n") else text
    var = secret.env or secret.name
    if var not in environ:
        raise ConfigError(f"secret {secret.name}: ${var} is not set in the controller's "
                          f"environment (export it, then `zerodown controller --stop`: the next "
                          f"command starts the controller with it; or read it from a file: "
                          f"{{name: {secret.name}, file: PATH}})")
    return environ[var]


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines (`export ` allowed, # comments, blank lines); one pair of matching
    quotes around a value is removed; nothing is expanded."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"env_file {path}: {getattr(e, 'strerror', None) or e}") from None
    out = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ConfigError(f"env_file {path}:{number}: expected NAME=value "
                              f"(NAME of letters, digits and _)")
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if "\0" in value:
            raise ConfigError(f"env_file {path}:{number}: {m.group(1)}: a NUL byte")
        out[m.group(1)] = value
    return out


def versions_there(cfg: ServiceConfig, template: str, most: int = 10) -> list[str]:
    """The labels whose release folders `template` finds on this machine, when {version} is
    a whole part of its path (releases/{version}): a typo'd or not yet built version is
    then said beside the ones that would deploy. At most `most`, newest first."""
    filled = _fill(template, "\0")
    if filled is None or filled.count("\0") != 1:
        return []
    before, after = resolve(cfg, filled).split("\0")
    if not before.endswith("/") or after[:1] not in ("", "/"):
        return []
    try:
        found = [e for e in os.scandir(before) if os.path.isdir(before + e.name + after)]
    except OSError:
        return []
    found.sort(key=lambda e: (e.stat().st_mtime, e.name), reverse=True)
    return [e.name for e in found[:most]]


def _fill(template: str, version: str) -> str | None:
    """`template` with {version} filled; None when it needs a placeholder known only later."""
    try:
        return template.format(version=version)
    except (KeyError, IndexError):
        return None
