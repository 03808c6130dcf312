"""What the API does: deploy, pause, resume, promote, abort, rollback.

Each checks its whole request before it writes anything (a bad request
touches no state), acts through the engine's store, then records who asked,
from where and why in the event log. The daemon's runner does the work.
"""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any, Callable, Literal

from zerodown.api.errors import ApiError
from zerodown.api.server import asker
from zerodown.config_files import check_files
from zerodown.config_model import ServiceConfig
from zerodown.controller import Controller, resolve_revision
from zerodown.engine.lifecycle import PhaseError
from zerodown.engine.runner import DeploymentBusy
from zerodown.engine.store import Deployment, DeploymentConflict, NotFound, Store
from zerodown.errors import ConfigError, UsageError, ZerodownError
from zerodown.plan import PlanError
from zerodown.schema import clip

STRATEGY_KINDS = ("in-place", "rolling", "blue-green", "canary", "ab-test")
SIGNALS = ("pause", "resume", "promote", "abort")
REASON_MAX = 500


def overrides(cfg, strategy: str | None, settings: list[str]) -> list[str]:
    """--strategy then --set (strategies/kind_switch.py): a change of kind keeps the file's
    options the new kind has and drops the others."""
    from zerodown.strategies.kind_switch import strategy_overrides
    return strategy_overrides(cfg.source.get("strategy"), cfg.strategy.kind, strategy,
                              settings)[0]


def as_sent(settings: list[str], extra: list[str], strategy: str | None) -> dict[str, str]:
    """{setting: the JSON field it came from}, so its errors name what an API caller sent
    (`set[1] instances=zero: ...`, `strategy "canary": ...`) where the command line's name
    its flags (config.apply_overrides says `--set ...` for a setting not named here)."""
    named = {item: f"set[{i}] {clip(item)}" for i, item in enumerate(settings)}
    if extra and extra[:1] != settings[:1]:  # a change of kind: the field that asked it
        kind_set = [named[s] for s in settings if s.partition("=")[0].strip() == "strategy.kind"]
        named[extra[0]] = kind_set[-1] if kind_set else f"strategy {json.dumps(strategy)}"
    return named


class Who:
    def __init__(self, name: str, origin: str, reason: str | None):
        self.name, self.origin, self.reason = name, origin, reason

    def text(self) -> str:
        return f"by {asker(self.name, self.origin)}" + (f": {self.reason}" if self.reason else "")


class Actions:
    def __init__(self, controller: Callable[[], Controller], wake: Callable[[], None],
                 service: str | None = None):
        self.controller, self.wake = controller, wake  # a fresh Controller per action,
        # closed after it (its kept threads, connections, store)
        # the service this controller runs (None: the file's, each time): a file renamed
        # since names another, which only a restart takes (observer.restart_needed)
        self.service = service

    def _runs(self, cfg: ServiceConfig) -> str:
        """The service acted on: this controller's. A new deployment of a service the file
        was renamed to would be recorded for a runner that never takes it."""
        if self.service is not None and cfg.service != self.service:
            raise ApiError(400, f"{cfg.file}: service: now names {cfg.service}; this "
                                f"controller runs {self.service}, and takes a new name only "
                                f"as it starts (`zerodown controller --stop`, then `zerodown "
                                f"up`)", "config")
        return cfg.service

    # --- starting deployments ---------------------------------------------------------

    def deploy(self, body: dict, who: str, origin: str) -> dict:
        fields(body, ("version", "strategy", "set", "allow_downtime", "reason"))
        version = string(body, "version", required=True, limit=100)
        strategy = body.get("strategy")
        if strategy is not None and strategy not in STRATEGY_KINDS:
            raise ApiError(400, f"strategy must be null or one of {', '.join(STRATEGY_KINDS)}, "
                                f"got {json.dumps(strategy)}", "strategy")
        settings = body.get("set") or []
        if not isinstance(settings, list) or not all(isinstance(s, str) and "=" in s
                                                     for s in settings):
            raise ApiError(400, 'set must be a list of "key=value" strings, e.g. '
                                '["strategy.max_surge=2"]', "set")
        downtime = flag(body, "allow_downtime")
        asker = Who(who, origin, reason(body))
        with closing(self.controller()) as ctl:
            with _mapped("config"):
                base = ctl.config()
                self._runs(base)
                check_files(base)  # the files it names: read for a deployment, not each load
            extra = overrides(base, strategy, settings)
            with _mapped("set"):
                ctl.config(extra, as_sent(settings, extra, strategy))
            with _mapped(None):
                engine = ctl.engine(base)  # the load balancer after the hosts' pre-flight
                id = engine.deploy(version, overrides=extra, allow_downtime=downtime,
                                   ready=lambda: ctl.ensure_router(base))
            record(engine.store, base.service, id, "deploy", asker, f"deploy {version}")
            self.wake()
            restart = engine.store.events(deployment=id, kind="deployment.restart", limit=1)
            return {"id": id, "phase": engine.store.deployment(id).phase.value,
                    "restart": restart[0].message if restart else None}

    def rollback(self, body: dict, who: str, origin: str) -> dict:
        fields(body, ("to", "allow_downtime", "reason"))
        downtime = flag(body, "allow_downtime")
        to_text = body.get("to")
        if to_text is not None and not isinstance(to_text, (str, int)):
            raise ApiError(400, 'to must be null, a revision ("r3", 3) or a version ("v1")', "to")
        asker = Who(who, origin, reason(body))
        with closing(self.controller()) as ctl:
            cfg = ctl.working_config()
            self._runs(cfg)
            store = ctl.store()
            active = store.active_deployment(cfg.service)
            if (active is not None and to_text is None and active.kind != "rollback"
                    and active.from_revision is not None):
                # Inside a deployment, going back is aborting it: one table version, no process.
                out = self.signal(active.id, "abort", {"reason": asker.reason}, who, origin)
                return {**out, "aborted": True}
            with _mapped("to"):
                to = None if to_text is None else resolve_revision(store, cfg.service, str(to_text))
            engine = ctl.engine(cfg)
            with _mapped(None):
                to = engine.rollback_target(to)
                id = engine.rollback(to_revision=to, allow_downtime=downtime,
                                     ready=lambda: ctl.ensure_router(cfg))
            record(store, cfg.service, id, "rollback", asker, f"roll back to r{to}")
            self.wake()
            return {"id": id, "phase": store.deployment(id).phase.value}

    # --- steering ---------------------------------------------------------------------

    def signal(self, id: int | str, verb: str, body: dict, who: str, origin: str) -> dict:
        fields(body, ("reason", "full") if verb == "promote" else ("reason",))
        full = flag(body, "full")
        asker = Who(who, origin, reason(body))
        with closing(self.controller()) as ctl:
            service = self.service or ctl.working_config().service
            store = ctl.store()
            d = target(store, service, id)
            with _mapped(None):  # who and why go in the action's event, not in the error column
                signalled = store.signal(d.id, "promote-full" if full else verb)
            record(store, service, d.id, verb, asker,
                   f"{'promote --full' if full else verb} deployment {d.id}")
            self.wake()
            # the phase the signal set: read again, the engine its ring woke may have moved
            # on (a promote at a manual pause answered "paused": the next pause, reached)
            return {"id": d.id, "phase": signalled.phase.value}


def target(store: Store, service: str, id: int | str) -> Deployment:
    """Deployment `id`, or the active one for "current"."""
    if id == "current":
        active = store.active_deployment(service)
        if active is None:
            last = store.deployments(service, limit=1)
            ended = f" (the last one, {last[0].id}, {last[0].phase})" if last else ""
            raise ApiError(409, f"service {service} has no deployment in progress{ended}", "id")
        return active
    try:
        d = store.deployment(int(id))
    except (NotFound, ValueError):
        raise ApiError(404, f"no deployment {id} (an id, or `current`)", "id") from None
    if d.service != service:
        raise ApiError(404, f"deployment {id} is of service {d.service}, not {service}", "id")
    return d


def record(store: Store, service: str, id: int, verb: str, who: Who, what: str) -> None:
    store.event(service, "action", f"{what} {who.text()}", id, action=verb, who=who.name,
                origin=who.origin, reason=who.reason)


# --- checking a request's body -------------------------------------------------------

def fields(body: dict, allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(400, f"unknown field {json.dumps(key)} (allowed: {', '.join(allowed)})",
                           key)


def string(body: dict, key: str, required: bool = False, limit: int = REASON_MAX) -> Any:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ApiError(400, f"{key} must be a non-empty string of at most {limit} characters"
                            f", got {json.dumps(value)}", key)
    return value


def flag(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} must be true or false, got {json.dumps(value)}", key)
    return value


def reason(body: dict) -> str | None:
    return string(body, "reason")


class _mapped:
    """Engine and config errors as API errors: 400 for a bad value of `field`, 409 when the
    state does not allow it now, 404 for an unknown deployment."""

    def __init__(self, field: str | None):
        self.field = field

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, tb) -> Literal[False]:  # (never swallows: raises its own)
        if error is None or not isinstance(error, ZerodownError):
            return False
        if isinstance(error, NotFound):
            raise ApiError(404, str(error), self.field) from None
        if isinstance(error, (PhaseError, DeploymentConflict, DeploymentBusy, PlanError)):
            raise ApiError(409, str(error), self.field) from None
        if isinstance(error, ConfigError) or (isinstance(error, UsageError) and self.field):
            raise ApiError(400, str(error), self.field) from None
        if isinstance(error, UsageError):
            raise ApiError(409, str(error), self.field) from None
        raise ApiError(500, str(error), self.field) from None
