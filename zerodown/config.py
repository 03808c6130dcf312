"""zerodown.yaml: what a service is and how to deploy it, validated with locations.

    cfg = load_config("zerodown.yaml")          # raises ConfigError listing every problem
    cfg = apply_overrides(cfg, ["instances=6"])  # --set on the command line, same checks

Every error names the file, line and key path and says what is allowed:
    zerodown.yaml:7: strategy.max_surge: must be a count or a percentage like "25%", got "lots"
The value kinds and the section machinery live in schema.py.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from zerodown.errors import ConfigError
from zerodown.hooks_model import Hooks
from zerodown.hooks_config import parse_hooks
from zerodown.tls_config import TlsSettings, parse_tls
from zerodown.schema import (ENV_NAME, Amount, Context, Invalid, Section, address, boolean, clip,
                             command, duration, enum, env, integer, join, list_of, nested,
                             optional, shown, template, text)
from zerodown.strategies.options import (STRATEGIES, AnalysisConfig, AnalysisStep,
                                         BlueGreenStrategy, CanaryStrategy, InPlaceStrategy,
                                         MatchRule, PauseStep, RollingStrategy, StrategyConfig,
                                         WeightStep, check_strategy, parse_strategy)
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
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"


@dataclass(frozen=True)
class HealthConfig:
    path: str = "/healthz"
    tcp: bool = False  # true: a TCP connect is the whole check
    status: int = 200  # the HTTP status a healthy instance answers
    interval: float = 1.0
    timeout: float = 2.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3
    start_timeout: float = 30.0  # how long a new instance may take to become healthy


@dataclass(frozen=True)
class Secret:
    """An environment variable of the instances whose value never enters zerodown's
    files: read when an instance starts from the controller's environment (`env`,
    default: the same name) or from a file (`file`, relative to zerodown.yaml)."""

    name: str
    env: str | None = None
    file: str | None = None

    @property
    def source(self) -> str:
        return f"file {self.file}" if self.file else f"${self.env or self.name}"


@dataclass(frozen=True)
class AppConfig:
    """What to run for one instance. A relative cwd or env_file is relative to
    zerodown.yaml's directory. Instances get a clean environment: see runtimes/release.py."""

    command: tuple[str, ...]
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_file: str | None = None  # KEY=VALUE lines, e.g. releases/{version}/.env
    secrets: tuple[Secret, ...] = ()
    # runtime ssh: this folder (relative to zerodown.yaml) is uploaded to every host once per
    # version and is the instances' working directory there (zerodown/runtimes/ssh_release.py)
    release: str | None = None

    def render(self, **values: Any) -> "AppConfig":
        """Fill {version} {port} {slot} {instance} {host}; the result is run without a shell."""
        fill = lambda s: None if s is None else s.format(**values)  # noqa: E731
        return replace(self, command=tuple(fill(a) for a in self.command), cwd=fill(self.cwd),
                       env={k: fill(v) for k, v in self.env.items()},
                       env_file=fill(self.env_file), release=fill(self.release))


ROUTER_COMMON = ("host",)  # router keys of every kind (beside kind), not the driver's options


@dataclass(frozen=True)
class RouterConfig:
    kind: str = "embedded"
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific, checked by the router
    # The fleet host (runtime: ssh) the load balancer runs on; None: this machine.
    host: str | None = None


@dataclass(frozen=True)
class ControllerConfig:
    """The controller daemon (zerodown/daemon/): its API on a unix socket always, on TCP here."""

    listen: str | None = None  # HOST:PORT for the HTTP API and dashboard (bearer token)


@dataclass(frozen=True)
class RuntimeConfig:
    kind: str = "local"
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific (ssh hosts, ...)


@dataclass(frozen=True)
class ServiceConfig:
    service: str
    listen: str
    app: AppConfig
    instances: int = 2
    health: HealthConfig = HealthConfig()
    drain_timeout: float = 30.0
    stop_grace: float = 10.0
    router: RouterConfig = RouterConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    strategy: StrategyConfig = RollingStrategy()
    on_failure: str = "rollback"
    on_host_failure: str = "pause"  # a fleet host stops answering mid-deployment
    # A step (not a pause or an analysis) that makes no progress within this aborts the
    # deployment, or pauses it with on_failure: pause (engine/deadlines.py). None: no limit.
    progress_deadline: float | None = 600.0
    # The deployment's exit code is 1 when its proof (zerodown/proof.py) shows a request
    # failed by it, even if it succeeded.
    require_zero_failed: bool = False
    controller: ControllerConfig = ControllerConfig()
    hooks: Hooks = Hooks()  # commands/webhooks at the moments of a deployment (run by hooks.py)
    tls: TlsSettings | None = None  # the listener speaks https (tls_config.py)
    # Where it came from, so --set overrides re-validate with the same locations.
    file: str | None = field(default=None, compare=False)
    source: dict = field(default_factory=dict, compare=False, repr=False)
    lines: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def url(self) -> str:
        """Where users reach the service: https when `tls:` is set."""
        return f"{'https' if self.tls else 'http'}://{self.listen}"


# --- sections -----------------------------------------------------------

def _open(cls: type, kinds: tuple[str, ...]):
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
                               "release": optional(template())},
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
    "on_host_failure": enum(*ON_HOST_FAILURE),
    "progress_deadline": optional(duration()),
    "require_zero_failed": boolean(),
    "controller": Section(ControllerConfig, {"listen": optional(address())},
                          "the controller daemon; listen: HOST:PORT serves its HTTP API and "
                          "dashboard on TCP (a bearer token is required there)"),
    "hooks": parse_hooks, "tls": parse_tls})


def _cross_checks(ctx: Context, cfg: ServiceConfig, data: dict) -> None:
    """Rules that involve more than one key, skipped where a key is already wrong."""
    bad = {e.key for e in ctx.errors}
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
        if cfg.router.options.get("shared") and getattr(cfg.router, "host", None):
            ctx.error("router.shared", "a shared proxy runs where zerodown runs (on a fleet "
                                       "host: not yet); remove router.host or router.shared")
        elif cfg.router.kind == "embedded" and cfg.router.options.get("shared") and not any(
                e.key.startswith("router") for e in ctx.errors):
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
            cfg.runtime.kind != "ssh" or cfg.app.release is None):
        why = (f"runtime {cfg.runtime.kind} has no hosts of its own (leave per_host out)"
               if cfg.runtime.kind != "ssh" else
               "it needs app.release (e.g. releases/{version}): the folder it runs in there")
        ctx.error("hooks.before_start", f"per_host: true runs on each host of runtime: ssh; "
                                        f"{why}")
    if getattr(cfg.strategy, "max_surge_per_host", None) is not None and cfg.runtime.kind != "ssh":
        ctx.error("strategy.max_surge_per_host", f"limits each host of runtime: ssh; runtime "
                  f"{cfg.runtime.kind} has one host (max_surge limits it)")
    if cfg.router.host is not None and "runtime.kind" not in bad:
        _router_host(ctx, cfg)
    if "runtime.kind" not in bad:
        _driver_options(ctx, "runtime", cfg.runtime.kind, cfg.runtime.options)
        if cfg.runtime.kind == "ssh" and not any(k.startswith("runtime") for k in
                                                 {e.key for e in ctx.errors}):
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


def _shared_conflicts(ctx: Context, cfg: ServiceConfig) -> None:
    """Another zerodown.yaml on the same shared proxy holding this host and prefix."""
    from zerodown.routers.embedded_options import parse_options, shared_conflicts
    options = parse_options(cfg.router.options, file=ctx.file)
    for key, why in shared_conflicts(cfg.service, options, cfg.listen, ctx.file or "zerodown.yaml"):
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
    check = _option_checks().get((section, kind))
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


def _option_checks() -> dict:
    # Imported here: the drivers import this module for the config types.
    from zerodown.routers.embedded_options import parse_options as embedded
    from zerodown.routers.haproxy import parse_options as haproxy
    from zerodown.routers.nginx_options import parse_options as nginx
    from zerodown.runtimes.ssh_options import parse_options as ssh
    return {("router", "embedded"): embedded, ("router", "haproxy"): haproxy,
            ("router", "nginx"): nginx, ("runtime", "ssh"): ssh}


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
        _raise(errors)
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
    _cross_checks(ctx, cfg, data)
    if ctx.errors:
        _raise(ctx.errors)
    return replace(cfg, file=file, source=data, lines=lines)


MAX_SHOWN = 20  # problems listed in one message; fixing those shows the next ones


def _raise(errors: list[ConfigError]) -> None:
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
    """The file `zerodown init` writes: every key that matters, with its default."""
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
  kind: rolling              # in-place | rolling | blue-green | canary
  max_surge: 1               # extra instances during the deploy (count or "25%")
  max_unavailable: 0         # instances that may be out of service at once

on_failure: rollback         # rollback | pause
progress_deadline: 10m       # a step stuck this long aborts (or pauses, with on_failure: pause)
require_zero_failed: false   # true: exit 1 when the deployment's proof shows a request it failed

# controller:
#   listen: 127.0.0.1:7070   # the HTTP API and dashboard on TCP (`zerodown token create NAME`)
"""
