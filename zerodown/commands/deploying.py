"""Commands that start or steer deployments: deploy, plan, rollback, pause, resume, promote, abort.

Who runs a deployment: the `deploy` (or `rollback`) process itself, in the
foreground; with --detach, a `zerodown _run ID` process in its own session.
Either holds the service's lock while it runs. pause/resume/promote/abort
only write a signal to the store, which that process picks up; when no
process holds the lock (its controller died), resume/promote/abort run the
deployment here, from where it stopped.
"""

from __future__ import annotations

import argparse
import json

from zerodown import render
from zerodown.commands.progress import drive, follow_until_ended
from zerodown.config import ServiceConfig
from zerodown.controller import Controller, deployment_view, labels, resolve_revision
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import Deployment, Store
from zerodown.errors import UsageError, ZerodownError
from zerodown.plan import ServiceState, Target
from zerodown.runtimes import check_release
from zerodown.strategies import plan_for


def overrides(cfg: ServiceConfig, strategy: str | None, settings: list[str]) -> list[str]:
    """--strategy then --set, in that order, so `--set strategy.batch_size=2` refines the kind.
    The configured section is kept when --strategy names the kind it already has."""
    if strategy in (None, cfg.strategy.kind):
        return list(settings)
    return [f"strategy={json.dumps({'kind': strategy})}", *settings]


def cmd_deploy(args: argparse.Namespace, ctl: Controller) -> int:
    base = ctl.config()
    extra = overrides(base, args.strategy, args.set)
    ctl.config(extra)  # a bad --set is a usage error before anything starts
    ctl.ensure_router(base)
    engine = ctl.engine(base)
    if args.wait:
        _say_waiting(engine.store, base.service)
    id = engine.deploy(args.version, overrides=extra, wait=args.wait,
                       allow_downtime=args.allow_downtime)
    return _run_or_detach(ctl, engine, id, args.detach)


def cmd_rollback(args: argparse.Namespace, ctl: Controller) -> int:
    cfg = ctl.working_config()
    active = ctl.store().active_deployment(cfg.service) if ctl.has_state() else None
    if (active is not None and args.to is None and not args.wait and active.kind != "rollback"
            and active.from_revision is not None):
        # Inside a deployment (a canary, blue still up in its scale-down window) going
        # back is aborting it: one table version to the stable revision, no process started.
        print(f"deployment {active.id} is {active.phase}: rolling back means aborting it, "
              f"all traffic back to r{active.from_revision}", flush=True)
        return cmd_abort(argparse.Namespace(id=active.id), ctl)
    engine = ctl.engine(cfg)
    to = None if args.to is None else resolve_revision(engine.store, cfg.service, args.to)
    to = engine.rollback_target(to)  # refused before the proxy is touched
    ctl.ensure_router(cfg)
    if args.wait:
        _say_waiting(engine.store, cfg.service)
    id = engine.rollback(to_revision=to, wait=args.wait, allow_downtime=args.allow_downtime)
    return _run_or_detach(ctl, engine, id, args.detach)


def _say_waiting(store: Store, service: str) -> None:
    active = store.active_deployment(service)
    if active is not None:
        print(f"waiting for deployment {active.id} ({active.phase}) to end", flush=True)


def _run_or_detach(ctl: Controller, engine, id: int, detach: bool) -> int:
    if not detach:
        return drive(ctl, engine, id)
    try:
        pid, ended = ctl.spawn_controller(id, engine.service)
    except BaseException:
        try:  # still pending: nobody will run it, so it must not block the next one
            engine.abort(id)
        except ZerodownError:
            pass  # the controller did take it (and ended it, or runs it)
        raise
    log = ctl.controller_log(id)
    if ended is not None:
        d = engine.store.deployment(id)
        print(render.result_line(deployment_view(d, labels(engine.store, engine.service)),
                                 d.updated) + f"\n(controller log: {log})")
        return ended
    print(f"deployment {id} runs in the background (controller pid {pid}, log {log})\n"
          f"`zerodown status` shows it; pause, resume, promote and abort steer it")
    return 0


def cmd_run(args: argparse.Namespace, ctl: Controller) -> int:
    """The detached controller: run deployment ID to its end."""
    cfg = ctl.working_config()
    ctl.ensure_router(cfg)
    engine = ctl.engine(cfg)
    print(f"controller for deployment {args.id} of {cfg.service} (state {ctl.state_dir})",
          flush=True)
    return drive(ctl, engine, args.id)


def cmd_plan(args: argparse.Namespace, ctl: Controller) -> int:
    base = ctl.config()
    cfg = ctl.config(overrides(base, args.strategy, args.set))
    check_release(cfg, args.version)
    state, revision, active = ServiceState(cfg.service, None), 1, None
    if ctl.has_state():
        store = ctl.store()
        state = store.service_state(cfg.service)
        revision = max((r.number for r in store.revisions(cfg.service)), default=0) + 1
        found = store.active_deployment(cfg.service)
        active = None if found is None else deployment_view(found, labels(store, cfg.service))
    plan = plan_for(cfg.strategy, state, Target(revision, cfg.instances), cfg.hooks.moments(),
                    allow_downtime=args.allow_downtime)
    print(render.plan_text(plan.describe(), args.version, revision, active))
    return 0


# --- signals -----------------------------------------------------------------------

def target(store: Store, service: str, id: int | None) -> Deployment:
    if id is not None:
        d = store.deployment(id)
        if d.service != service:
            raise UsageError(f"deployment {id} is of service {d.service}, not {service}")
        return d
    active = store.active_deployment(service)
    if active is None:
        last = store.deployments(service, limit=1)
        ended = f" (the last one, {last[0].id}, {last[0].phase})" if last else ""
        raise UsageError(f"service {service} has no deployment in progress{ended}")
    return active


def _steer(ctl: Controller, id: int | None):
    cfg = ctl.working_config()
    if not ctl.has_state():
        raise UsageError(f"service {cfg.service} was never deployed here (no state in "
                         f"{ctl.state_dir})")
    engine = ctl.engine(cfg)
    return cfg, engine, target(engine.store, cfg.service, id)


def cmd_pause(args: argparse.Namespace, ctl: Controller) -> int:
    cfg, engine, d = _steer(ctl, args.id)
    engine.pause(d.id)
    step = f" ({d.step.describe(cfg.service)})" if d.step is not None else ""
    print(f"deployment {d.id} paused: it holds once the step in progress{step} is done; "
          f"`zerodown resume` continues it")
    return 0


def cmd_resume(args: argparse.Namespace, ctl: Controller) -> int:
    cfg, engine, d = _steer(ctl, args.id)
    pid = ctl.controller_pid(cfg.service)
    if d.phase is Phase.PAUSED:
        engine.resume(d.id)
    elif pid is not None:
        raise UsageError(f"deployment {d.id} is {d.phase}, not paused (controller pid {pid} "
                         "runs it)")
    if pid is not None:
        print(f"deployment {d.id} resumed; the controller (pid {pid}) continues it")
        return 0
    print(f"deployment {d.id}: no controller is running it; continuing it here", flush=True)
    return _here(ctl, cfg, engine, d.id)


def cmd_promote(args: argparse.Namespace, ctl: Controller) -> int:
    cfg, engine, d = _steer(ctl, args.id)
    phase = engine.promote(d.id, full=args.full)
    what = "skips every remaining pause and analysis" if args.full else "goes past its pause"
    print(f"deployment {d.id} {what} ({phase})")
    return _unless_running(ctl, cfg, engine, d.id)


def cmd_abort(args: argparse.Namespace, ctl: Controller) -> int:
    cfg, engine, d = _steer(ctl, args.id)
    phase = engine.abort(d.id)
    if phase is Phase.ABORTED:
        print(f"deployment {d.id} aborted before its first step: nothing to undo")
        return 0
    pid = ctl.controller_pid(cfg.service)
    if pid is None:
        print(f"deployment {d.id} aborting; no controller is running it: undoing it here",
              flush=True)
        _here(ctl, cfg, engine, d.id)  # prints the outcome
    else:
        print(f"deployment {d.id} aborting; the controller (pid {pid}) takes traffic back to "
              f"the stable revision", flush=True)
        end = follow_until_ended(ctl, cfg.service, d.id)
        if end.phase.terminal or ctl.controller_pid(cfg.service) is not None:
            print(render.result_line(deployment_view(end, labels(engine.store, cfg.service)),
                                     end.updated))
        else:
            print(f"the controller is gone; undoing deployment {d.id} here", flush=True)
            _here(ctl, cfg, engine, d.id)
    return 0 if engine.store.deployment(d.id).phase is Phase.ABORTED else 1


def _unless_running(ctl: Controller, cfg: ServiceConfig, engine, id: int) -> int:
    if ctl.controller_pid(cfg.service) is not None:
        return 0
    print(f"deployment {id}: no controller is running it; continuing it here", flush=True)
    return _here(ctl, cfg, engine, id)


def _here(ctl: Controller, cfg: ServiceConfig, engine, id: int) -> int:
    ctl.ensure_router(cfg)
    return drive(ctl, engine, id, replay=False)
