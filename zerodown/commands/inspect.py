"""Commands that only look, on this machine's state: plan, history. None of them changes
anything. (`status` asks the controller: commands/status.py; `logs` is commands/logs.py.)"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from zerodown import colour, render
from zerodown.config_diff import change_text, changes
from zerodown.config_files import check_files
from zerodown.controller import Controller, labels
from zerodown.gather import deployment_view, event_view
from zerodown.engine.store import NotFound
from zerodown.errors import UsageError
from zerodown.model import Instance, fleet_hosts
from zerodown.plan import ServiceState

FOLLOW_POLL = 0.2


def cmd_plan(args: argparse.Namespace, ctl: Controller) -> int:
    from zerodown.commands.connect import strategy_settings
    from zerodown.engine.unlisted import as_renamed, renames
    from zerodown.runtimes import check_release, listed_as
    from zerodown.strategies import plan_for, target_for
    cfg = ctl.config(*strategy_settings(ctl.config(), args))
    check_files(cfg)
    check_release(cfg, args.version, ctl.state_dir)  # refused as the deployment would be
    state, revision, active = ServiceState(cfg.service, None), 1, None
    if ctl.has_state():
        store = ctl.store()
        # a host listed under another name: its rows as deploy records them first
        state = as_renamed(store.service_state(cfg.service), renames(
            store, cfg.service, listed_as(cfg), fleet_hosts(cfg.runtime)))
        revision = store.latest_revision(cfg.service) + 1
        found = store.active_deployment(cfg.service)
        active = None if found is None else deployment_view(found, labels(store, cfg.service))
    plan = plan_for(cfg.strategy, state, target_for(cfg, revision), cfg.hooks.moments(),
                    allow_downtime=args.allow_downtime)
    from zerodown.strategies.shadow_options import warnings
    for line in warnings(cfg.strategy):
        print(f"{ctl.file}: {line}", file=sys.stderr)
    if args.json:
        from zerodown.render_json import plan_dict
        print(json.dumps(plan_dict(plan, args.version, active, time.time()), indent=2))
    else:
        print(render.plan_text(plan.describe(), args.version, revision, active))
    return 0



def cmd_history(args: argparse.Namespace, ctl: Controller) -> int:
    cfg = ctl.working_config()
    if not ctl.has_state():
        print(json.dumps({"schema": 1, "deployments": []}) if args.json else "no deployments yet")
        return 0
    store = ctl.store()
    known = labels(store, cfg.service)
    rows = store.listed(cfg.service, limit=args.limit)
    proofs = store.proofs(d.id for d in rows)
    asked = store.askers(d.id for d in rows)
    views = [deployment_view(d, known, proof=proofs.get(d.id), asked=asked.get(d.id))
             for d in rows]
    events, config = None, None
    if args.verbose:
        events = {d.id: [event_view(e) for e in store.events(deployment=d.id, limit=100_000)]
                  for d in rows}
    if args.verbose or args.json:
        config = {d.id: config_changes(store, cfg.service, d.from_revision, d.to_revision)
                  for d in rows}
    if args.json:
        from zerodown.render_json import history_dict
        print(json.dumps(history_dict(views, time.time(), events, config), indent=2))
    else:
        text = render.history_text(views, time.time(), events, None if config is None else {
            id: [change_text(*c) for c in found] for id, found in config.items()})
        print(colour.paint(text) if colour.wanted(sys.stdout, args.no_color) else text)
    return 0


def config_changes(store, service: str, old: int | None, new: int) -> list[tuple]:
    """What changed in the config from revision `old` to `new` (their snapshots)."""
    if old is None or old == new:
        return []
    try:
        before, after = store.revision(service, old), store.revision(service, new)
    except NotFound:  # a revision lost with its store: nothing to compare
        return []
    return changes(before.config.get("source"), after.config.get("source"))
