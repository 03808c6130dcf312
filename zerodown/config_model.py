"""What a service is, as zerodown.yaml says it: frozen dataclasses, one per section.

config.py parses and checks a file into these (its SERVICE section names each key's
kind of value); the strategy, hooks and tls sections have files of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from zerodown.hooks_model import Hooks
from zerodown.hosts.log_prune import KEEP_ENDED
from zerodown.strategies.options import RollingStrategy, StrategyConfig
from zerodown.tls_config import TlsSettings


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
    # ... and these paths inside it are links to <state_dir>/shared/<service>/<path> on each
    # host, the same for every release (zerodown/hosts/shared_paths.py): folders made
    # there when missing, files that must be there before a deployment
    shared_dirs: tuple[str, ...] = ()
    shared_files: tuple[str, ...] = ()

    def render(self, **values: Any) -> "AppConfig":
        """Fill {version} {port} {slot} {instance} {host}; the result is run without a shell."""
        def fill(s: str) -> str:
            return s.format(**values)

        def maybe(s: str | None) -> str | None:
            return None if s is None else fill(s)
        return replace(self, command=tuple(fill(a) for a in self.command), cwd=maybe(self.cwd),
                       env={k: fill(v) for k, v in self.env.items()},
                       env_file=maybe(self.env_file), release=maybe(self.release))


@dataclass(frozen=True)
class LogsConfig:
    """`logs:`: how many ended instances' logs of the service are kept, and how large one
    instance's log grows (None: unbounded), rotated past half of it by its stamper
    (hosts/stamper.py, hosts/log_prune.py). Sent in each instance's record (record()), so
    the stamper its start forks on the host has it."""

    keep_ended: int = KEEP_ENDED
    max_size: int | None = None

    def record(self) -> dict:
        return {"keep_ended": self.keep_ended, "max_size": self.max_size}


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
    on_host_return: str = "resume"  # ... and answers again while it is paused for it
    # A step (not a pause or an analysis) that makes no progress within this aborts the
    # deployment, or pauses it with on_failure: pause (engine/deadlines.py). None: no limit.
    progress_deadline: float | None = 600.0
    # The deployment's exit code is 1 when its proof (zerodown/proof.py) shows a request
    # failed by it, even if it succeeded.
    require_zero_failed: bool = False
    controller: ControllerConfig = ControllerConfig()
    hooks: Hooks = Hooks()  # commands/webhooks at the moments of a deployment (run by hooks.py)
    tls: TlsSettings | None = None  # the listener speaks https (tls_config.py)
    logs: LogsConfig = LogsConfig()  # the instances' logs: their size, the ended ones kept
    # Where it came from, so --set overrides re-validate with the same locations.
    file: str | None = field(default=None, compare=False)
    source: dict = field(default_factory=dict, compare=False, repr=False)
    lines: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def url(self) -> str:
        """Where users reach the service: https when `tls:` is set."""
        return f"{'https' if self.tls else 'http'}://{self.listen}"
