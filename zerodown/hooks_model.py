"""The vocabulary of lifecycle hooks: the moments of a deployment, and the hooks of each.

Configuration (hooks_config.py) builds these and planners (strategies/moments.py)
place them; running them is the engine's side (hooks.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

MOMENTS = ("before_start", "after_healthy", "before_traffic", "after_traffic", "after_promote",
           "on_rollback")
# A failure at one of these aborts the deployment; later ones are reported only.
BEFORE_PROMOTION = frozenset(MOMENTS[:4])
METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class HookSpec:
    """One hook: exactly one of `command` (argv tuple, or a /bin/sh -c string) or `http`."""

    command: tuple[str, ...] | str | None = None
    http: str | None = None
    method: str = "POST"  # http only
    timeout: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)  # http only
    env: dict[str, str] = field(default_factory=dict)  # command only, under the ZERODOWN_* ones
    cwd: str | None = None  # command only; relative to zerodown.yaml's directory
    name: str | None = None
    # before_start with runtime: ssh: once per host per version, in the release folder there
    # (cwd relative to it) before anything changes, instead of once here
    per_host: bool = False

    def __post_init__(self):
        if (self.command is None) == (self.http is None):
            raise ValueError("a HookSpec needs exactly one of command or http")

    @property
    def target(self) -> str:
        if self.http is not None:
            return f"{self.method} {self.http}"
        return self.command if isinstance(self.command, str) else shlex.join(self.command or ())

    @property
    def label(self) -> str:
        """How messages name the hook: its name, and what it runs."""
        return f"{self.name} ({self.target})" if self.name else self.target


@dataclass(frozen=True)
class Hooks:
    """The hooks of each moment, in the order they run."""

    before_start: tuple[HookSpec, ...] = ()
    after_healthy: tuple[HookSpec, ...] = ()
    before_traffic: tuple[HookSpec, ...] = ()
    after_traffic: tuple[HookSpec, ...] = ()
    after_promote: tuple[HookSpec, ...] = ()
    on_rollback: tuple[HookSpec, ...] = ()

    def at(self, moment: str) -> tuple[HookSpec, ...]:
        if moment not in MOMENTS:
            raise ValueError(f"unknown hook moment {moment!r} (allowed: {', '.join(MOMENTS)})")
        return getattr(self, moment)

    def moments(self) -> frozenset[str]:
        return frozenset(m for m in MOMENTS if getattr(self, m))
