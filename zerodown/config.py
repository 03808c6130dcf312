"""zerodown.yaml: what a service is and how to deploy it, validated with locations.

    cfg = load_config("zerodown.yaml")          # raises ConfigError listing every problem
    cfg = apply_overrides(cfg, ["instances=6"])  # --set on the command line, same checks

Every error names the file, line and key path and says what is allowed:
    zerodown.yaml:7: strategy.max_surge: must be a count or a percentage like "25%" (a whole number from 0, or 0% to 100%), got "lots"
The value kinds and the section machinery live in schema.py, the dataclasses it
fills in config_model.py, the rules across keys in config_checks.py.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any, Mapping, Sequence

from zerodown.config_checks import cross_checks
from zerodown.config_model import (ROUTER_COMMON, AppConfig, ControllerConfig, HealthConfig,
                                   LogsConfig, RouterConfig, RuntimeConfig, Secret, ServiceConfig)
from zerodown.errors import ConfigError
from zerodown.hooks_config import parse_hooks
from zerodown.tls_config import parse_tls
from zerodown.schema import (ENV_NAME, Amount, Invalid, address, boolean, clip, command, duration,
                             enum, env, inner_path, integer, optional, shown, size, template,
                             text)
from zerodown.schema_sections import Context, Section, join, list_of, nested
from zerodown.strategies.options import (STRATEGIES, AnalysisConfig, AnalysisStep,
                                         BlueGreenStrategy, CanaryStrategy, InPlaceStrategy,
                                         MatchRule, PauseStep, RollingStrategy, StrategyConfig,
                                         WeightStep, parse_strategy)
from zerodown.yaml_input import load_yaml, read_bounded

__all__ = ["ServiceConfig", "AppConfig", "Secret", "HealthConfig", "RouterConfig", "RuntimeConfig",
           "StrategyConfig", "InPlaceStrategy", "RollingStrategy", "BlueGreenStrategy",
           "CanaryStrategy", "WeightStep", "PauseStep", "AnalysisStep", "AnalysisConfig",
           "MatchRule", "Amount", "STRATEGIES", "load_config", "parse_config",
           "apply_overrides", "json_schema", "starter_yaml"]

ROUTER_KINDS = ("embedded", "haproxy", "nginx")
RUNTIME_KINDS = ("local", "ssh")
LATER = ("docker", "podman")  # runtimes DESIGN.md plans, refused until they exist
ON_FAILURE = ("rollback", "pause")
ON_HOST_FAILURE = ("pause", "skip")  # engine/host_failure.py
ON_HOST_RETURN = ("resume", "hold")  # daemon/host_watch.py
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
MIN_LOG_SIZE = 256 << 10
LOG_SIZE_WHY = (" (rotated at half, the newest half is what is sure to remain: 128KB "
                "at least keeps a boot's lines and a crash's)")


# --- sections -----------------------------------------------------------

def _open(cls: type[RouterConfig] | type[RuntimeConfig], kinds: tuple[str, ...]):
    """router/runtime: a kind, plus options kept whole for the driver to check."""
    def parse(ctx: Context, data: Any, path: str):
        if data is None:
            return cls()
        if isinstance(data, str):  # `router: haproxy` is short for {kind: haproxy}
            data = {"kind": data}
        if not isinstance(data, dict):
            raise Invalid(f"must be a mapping with a kind ({', '.join(kinds)}), got {shown(data)}")
        try:
            kind = enum(*kinds).parse(data.get("kind", cls.kind))
        except Invalid as e:
            later = data.get("kind") in LATER
            ctx.error(join(path, "kind"), f"{e}{' (not available yet)' if later else ''}")
            kind = cls.kind
        common = {}
        if cls is RouterConfig and data.get("host") is not None:  # every router kind has it
            host = data["host"]
            if isinstance(host, str) and host:
                common["host"] = host
            else:
                ctx.error(join(path, "host"), f"must be a host name of runtime.hosts or of "
                          f"runtime.ssh_config, got {shown(host)}")
        return cls(kind, {k: v for k, v in data.items()
                          if k != "kind" and not (cls is RouterConfig and k in ROUTER_COMMON)},
                   **common)
    return nested(parse, {"type": "object", "properties": {"kind": {"enum": list(kinds)}},
                           "additionalProperties": True})


def _secret(ctx: Context, v: Any, path: str) -> Secret:
    if isinstance(v, str):  # `- DB_PASSWORD`: from the controller's $DB_PASSWORD
        v = {"name": v}
    if not isinstance(v, dict):
        raise Invalid(f'must be a variable name or {{name: NAME, env: VAR}} or {{name: NAME, '
                      f'file: PATH}}, got {shown(v)}')
    secret = SECRET(ctx, v, path)
    if secret.env is not None and secret.file is not None:
        ctx.error(path, "reads from env or from file, not both")
    return secret


_VAR = text(ENV_NAME.pattern, "an environment variable name (letters, digits, _)")
SECRET = Section(Secret, {"name": _VAR, "env": optional(_VAR), "file": optional(text())},
                 "an instance variable read when it starts, never stored")
SECRETS = list_of(_secret, {"anyOf": [{"type": "string", "pattern": ENV_NAME.pattern},
                                      SECRET.schema]})


_INNER_PATH = inner_path()
SHARED_PATHS = list_of(lambda ctx, v, path: _INNER_PATH.parse(v), _INNER_PATH.schema)


def _secrets_problem(app: AppConfig) -> str | None:
    names = [s.name for s in app.secrets]
    twice = sorted({n for n in names if names.count(n) > 1} | set(names) & set(app.env))
    return (f"{', '.join(twice)}: set twice (a name is in app.env or app.secrets, once)"
            if twice else None)


SERVICE = Section(ServiceConfig, {
    "service": text(_NAME, "a name of letters, digits, - and _ (at most 63)"),
    "listen": address(),
    "instances": integer(1, 100_000),
    "app": Section(AppConfig, {"command": command(), "cwd": optional(template()), "env": env(),
                               "env_file": optional(template()), "secrets": SECRETS,
                               "release": optional(template()),
                               "shared_dirs": SHARED_PATHS, "shared_files": SHARED_PATHS},
                   "what to run; placeholders {version} {port} {slot} {instance} {host}",
                   check=_secrets_problem),
    "health": Section(HealthConfig, {
        # sent as the request line's target: one line of visible ASCII (%20 for a space)
        "path": text(r"/[!-~]{0,1023}", 'a path starting with "/" of at most 1024 visible '
                     'ASCII characters (no space or line break; write %20)'), "tcp": boolean(),
        "status": integer(100, 599), "interval": duration(0.01, 3600),
        "timeout": duration(0.01, 3600), "healthy_threshold": integer(1, 100),
        "unhealthy_threshold": integer(1, 100), "start_timeout": duration(0.01, 86400)},
        "how zerodown decides an instance is healthy"),
    "drain_timeout": duration(0, 86400), "stop_grace": duration(0, 86400),
    "router": _open(RouterConfig, ROUTER_KINDS), "runtime": _open(RuntimeConfig, RUNTIME_KINDS),
    "strategy": parse_strategy, "on_failure": enum(*ON_FAILURE),
    "on_host_failure": enum(*ON_HOST_FAILURE), "on_host_return": enum(*ON_HOST_RETURN),
    "progress_deadline": optional(duration()),
    "require_zero_failed": boolean(),
    "controller": Section(ControllerConfig, {"listen": optional(address())},
                          "the controller daemon; listen: HOST:PORT serves its HTTP API and "
                          "dashboard on TCP (a bearer token is required there)"),
    "hooks": parse_hooks, "tls": parse_tls,
    "logs": Section(LogsConfig, {
        "keep_ended": integer(1, 100_000),
        # rotated at half: the newest half kept, 128KB at least, holds a boot's lines and
        # a crash's (a long traceback is ~10KB)
        "max_size": optional(size(MIN_LOG_SIZE, 1 << 40, LOG_SIZE_WHY))},
        "the instances' logs: how large one grows, how many ended ones are kept")})


# --- loading ------------------------------------------------------------

def load_config(path: str) -> ServiceConfig:
    return parse_config(read_bounded(str(path)), file=str(path))


def parse_config(source: str, file: str = "zerodown.yaml") -> ServiceConfig:
    data, lines = load_yaml(source, file)
    return _validate(data, file, lines, {})


# What one deployment cannot change: they belong to the service's load balancer and
# runtime, which `zerodown up` starts from the file (edit it, then `down` and `up`).
FIXED_KEYS = ("service", "listen", "router", "runtime")


def apply_overrides(config: ServiceConfig, overrides: Sequence[str],
                    typed: Mapping[str, str] | None = None) -> ServiceConfig:
    """Apply `key.path=value` settings (values read as YAML) and validate again. `typed`:
    what the user typed for a setting made from a flag (`--max-surge 2`), which its errors
    name instead of `--set ...`."""
    data, origins, errors = copy.deepcopy(config.source), {}, []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        origin = (typed or {}).get(item) or f"--set {clip(item)}"
        try:
            if not sep or not key:
                raise Invalid(f"must look like key.path=value, got {shown(item)}")
            top = re.split(r"[.\[]", key, maxsplit=1)[0]
            if top in FIXED_KEYS:
                raise Invalid(f"cannot change per deployment ({', '.join(FIXED_KEYS)} are the "
                              "service's own: edit zerodown.yaml, then `zerodown down` and `up`)")
            _set_path(data, key, load_yaml(raw, "--set")[0] if raw.strip() else None)
            # steps.0.weight and steps[0].weight are one key; errors name the second
            origins[re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", key)] = origin
        except Invalid as e:
            errors.append(ConfigError(str(e), file=origin.partition(" ")[0], key=clip(key) or None))
        except ConfigError as e:  # the value is not YAML: its message, without "--set:1: "
            errors.append(ConfigError(str(e).split(": ", 1)[-1],
                                      file=origin.partition(" ")[0], key=clip(key) or None))
    if errors:
        raise_errors(errors)
    return _validate(data, config.file, config.lines, origins)


def _set_path(data: dict, path: str, value: Any) -> None:
    parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise Invalid(f"{path}: no item [{part}] in a list of {len(node)}")
            part = int(part)
        elif not isinstance(node, dict):
            raise Invalid(f"{path}: {'.'.join(parts[:i])} is not a mapping")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]


def _validate(data: Any, file: str | None, lines: dict, origins: dict) -> ServiceConfig:
    ctx = Context(file, lines, origins)
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"is {what}; expected a mapping with service, listen, app, ...",
                          file=file, line=1)
    cfg = SERVICE(ctx, data, "")
    cross_checks(ctx, cfg, data)
    if ctx.errors:
        raise_errors(ctx.errors)
    return replace(cfg, file=file, source=data, lines=lines)


MAX_SHOWN = 20  # problems listed in one message; fixing those shows the next ones


def raise_errors(errors: list[ConfigError]) -> None:
    """One ConfigError for `errors`: the one, or every one listed (up to MAX_SHOWN), by line."""
    errors = sorted(errors, key=lambda e: (e.line is None, e.line or 0))
    if len(errors) == 1:
        errors[0].errors = errors
        raise errors[0]
    listed = [f"  {e}" for e in errors[:MAX_SHOWN]]
    if len(errors) > MAX_SHOWN:
        listed.append(f"  ... and {len(errors) - MAX_SHOWN} more")
    err = ConfigError(f"{len(errors)} problems in the configuration:\n" + "\n".join(listed))
    err.file, err.errors = errors[0].file, errors
    raise err


def json_schema() -> dict:
    """The JSON Schema of zerodown.yaml, for editors (yaml-language-server)."""
    from zerodown.config_reference import annotate, driver_schema  # the words: not for parsing
    schema = SERVICE.schema
    schema["properties"]["router"] = driver_schema("router", ROUTER_KINDS)
    schema["properties"]["runtime"] = driver_schema("runtime", RUNTIME_KINDS)
    return annotate({"$schema": "https://json-schema.org/draft/2020-12/schema",
                     "$id": "https://zerodown.dev/schema/zerodown.yaml.json",
                     "title": "zerodown.yaml", **schema})


def starter_yaml(service: str = "web", port: int = 8080) -> str:
    """The template of the file `zerodown init` writes (commands/service.starter points its
    app at releases/{version} and this machine's python3): every key that matters, with its
    default."""
    return f"""\
# zerodown.yaml — every key: docs/config.md, or `zerodown schema`.
service: {service}
listen: 127.0.0.1:{port}     # where users connect (the load balancer)
instances: 2

app:
  # Run without a shell. Placeholders: {{version}} {{port}} {{slot}} {{instance}} {{host}}
  command: ["python", "app.py", "--port", "{{port}}", "--version", "{{version}}"]
  cwd: .
  env: {{APP_VERSION: "{{version}}"}}

health:
  path: /healthz             # or `tcp: true`
  interval: 1s
  timeout: 2s
  start_timeout: 30s

drain_timeout: 30s           # longest wait for in-flight requests before a stop
stop_grace: 10s              # SIGTERM, then SIGKILL after this

strategy:
  kind: rolling              # in-place | rolling | blue-green | canary | ab-test
  max_surge: 1               # extra instances during the deploy (count or "25%")
  max_unavailable: 0         # instances that may be out of service at once

on_failure: rollback         # rollback | pause
progress_deadline: 10m       # a step stuck this long aborts (or pauses, with on_failure: pause)
require_zero_failed: false   # true: exit 1 when the deployment's proof shows a request it failed

# controller:
#   listen: 127.0.0.1:7070   # the HTTP API and dashboard on TCP (`zerodown token create NAME`)
"""
