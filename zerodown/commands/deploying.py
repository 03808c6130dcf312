"""Commands that start or steer deployments, as clients of the controller daemon:
deploy, rollback, pause, resume, promote, abort.

The controller runs every deployment; these ask it over its API and, for
deploy, rollback and abort, follow the deployment until it ends (follow.py).
Ctrl-C or SIGTERM only stops the following; --detach does not follow at all.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

from zerodown.api.client import TIMEOUT, ApiFailure, Client
from zerodown.api.patience import Patience
from zerodown.commands.connect import check_config, client, deploy_patience
from zerodown.commands.strategy_flags import settings
from zerodown.commands.follow import StoppedWatching, Follower, result_line, watch
from zerodown.views import label_from_dict

WAIT_POLL = 0.5  # deploy --wait: how often the controller is asked again
NEVER = "the service was never deployed here (no state in {state_dir}); `zerodown up` starts it"


def _body(args: argparse.Namespace, **fields) -> dict:
    return {**fields, **({"reason": args.reason} if getattr(args, "reason", None) else {})}


def cmd_deploy(args: argparse.Namespace) -> int:
    cfg = check_config(args)  # file:line errors, before anything starts
    c = client(args)
    body = _body(args, version=args.version, strategy=args.strategy, set=settings(args)[0],
                 allow_downtime=args.allow_downtime)
    answer = _create(c, args, "/api/v1/deployments", body,
                     lambda c: deploy_patience(c, args, f"deploy {args.version}", cfg))
    if args.detach and answer.get("restart"):  # followed, its deployment.restart event says it
        print(answer["restart"], flush=True)
    return _follow_new(c, args, answer["id"])


def cmd_rollback(args: argparse.Namespace) -> int:
    c = client(args, never_deployed="the service has no previous revision to roll back to "
                                    "(never deployed here: no state in {state_dir})")
    answer = _create(c, args, "/api/v1/rollback", _body(args, to=args.to,
                                                        allow_downtime=args.allow_downtime),
                     lambda c: deploy_patience(c, args, "rollback"))
    if answer.get("aborted"):
        d = c.get(f"/api/v1/deployments/{answer['id']}")
        print(f"deployment {d['id']} is {d['phase']}: rolling back means aborting it, all "
              f"traffic back to {label_from_dict(d['from'])}", flush=True)
        return _follow_abort(c, answer["id"], args.no_color)
    return _follow_new(c, args, answer["id"])


def _create(c: Client, args: argparse.Namespace, path: str, body: dict,
            patience: Callable[[Client], Patience]) -> dict:
    """POST, and with --wait ask again while another deployment holds the service (the
    controller runs that one, so the wait ends; it never waits on a deployment nobody runs).
    `patience`: each ask's wait for the answer (connect.deploy_patience)."""
    said = None
    while True:
        try:
            return c.post(path, body, patience(c))
        except ApiFailure as e:
            if not (args.wait and e.status == 409 and "already has deployment" in str(e)):
                raise
            said = _say_waiting(c, said)
            try:
                time.sleep(WAIT_POLL)
            except KeyboardInterrupt:
                print("\nstopped waiting: nothing was deployed", flush=True)
                return _interrupted()
            c = client(args)  # the controller may have died meanwhile: started again


def _say_waiting(c: Client, said: tuple | None) -> tuple | None:
    """The deployment waited for, said again when its phase changes: one paused holds until
    a person steers it, and `deploy --wait` said only "(running)" once, then waited on in
    silence. What was said: (id, phase)."""
    try:
        active = c.get("/api/v1/deployments/current")
    except ApiFailure:  # it ended between the refusal and this look: the next POST goes
        return said
    now = (active["id"], active["phase"])
    if now != said:
        held = "" if active["phase"] != "paused" else (
            f"; it holds until someone runs `zerodown resume` (or `promote`), or "
            f"`zerodown abort {active['id']}`" if active.get("holds_for") is None else
            f"; its A/B test holds for a decision: `zerodown promote` (B wins) or "
            f"`zerodown abort {active['id']}` (A stays)")
        print(f"waiting for deployment {active['id']} ({active['phase']}) to end{held}",
              flush=True)
    return now


def _interrupted():
    raise SystemExit(130)


def _follow_new(c: Client, args: argparse.Namespace, id: int) -> int:
    if args.detach:
        d = c.get(f"/api/v1/deployments/{id}")
        print(f"deployment {id} runs in the background, in {controller_named(d)}; "
              "`zerodown status` shows it; pause, resume, promote and abort steer it")
        return 0
    return watch(c, id, no_color=args.no_color)


def controller_named(d: dict) -> str:
    """"the controller (pid N)", or without the pid while no process runs the deployment
    yet (just asked for: the controller takes it up within its next look), never "pid -"."""
    pid = d.get("controller_pid")
    return f"the controller (pid {pid})" if pid else "the controller"


# --- steering ---------------------------------------------------------------------------

def _signal(args: argparse.Namespace, verb: str, **fields) -> tuple[Client, dict]:
    c = client(args, never_deployed=NEVER)
    which = args.id if args.id is not None else "current"
    return c, c.post(f"/api/v1/deployments/{which}/{verb}", _body(args, **fields),
                     Patience(c, f"{verb} deployment {which}", TIMEOUT))


def cmd_pause(args: argparse.Namespace) -> int:
    c, answer = _signal(args, "pause")
    d = c.get(f"/api/v1/deployments/{answer['id']}")
    step = f" ({d['step_text']})" if d["step_text"] else ""
    print(f"deployment {d['id']} paused: it holds once the step in progress{step} is done; "
          f"`zerodown resume` continues it")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    c, answer = _signal(args, "resume")
    d = c.get(f"/api/v1/deployments/{answer['id']}")
    print(f"deployment {d['id']} resumed; {controller_named(d)} continues it")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    c, answer = _signal(args, "promote", full=args.full)
    what = "skips every remaining pause and analysis" if args.full else "goes past its pause"
    print(f"deployment {answer['id']} {what} ({answer['phase']}); the controller carries it on")
    return 0


def cmd_abort(args: argparse.Namespace) -> int:
    c, answer = _signal(args, "abort")
    id = answer["id"]
    if answer["phase"] == "aborted":
        print(f"deployment {id} aborted before its first step: nothing to undo")
        return 0
    d = c.get(f"/api/v1/deployments/{id}")
    print(f"deployment {id} aborting; {controller_named(d)} takes traffic back to the stable "
          "revision", flush=True)
    return _follow_abort(c, id, args.no_color)


def _follow_abort(c: Client, id: int, no_color: bool) -> int:
    """Follow an abort to its end: 0 once aborted, 1 if it ended otherwise."""
    follower = Follower(c, id, replay=False, no_color=no_color)
    try:
        d = follower.follow(
            lambda d: d["phase"] in ("aborted", "failed", "rolled_back", "succeeded"))
    except StoppedWatching as e:
        return e.code
    follower.say(result_line(d))
    return 0 if d["phase"] == "aborted" else 1
