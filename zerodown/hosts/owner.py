"""Which controller deploys a service on this host: one file beside the service's instance
registry (stdlib only: the agent runs it on every host).

    <state_dir>/services/<service>/owner.json
    {"id": "3f0c...", "where": "ana@laptop:/home/ana/shop/.zerodown", "since": 1796417060.6}

    owner(service_dir, me, "claim")   # {"owner": me}, recorded if nobody was ("new");
                                      # {"other": them} if another controller is recorded
    owner(service_dir, me, "take")    # me recorded whoever was: {"owner": me, "was": them}

Why. Two controllers (two laptops' state folders, or a laptop and a daemon) number their
revisions apart but share the instances' names (shop-r1-s0) and this registry: the second
one's reconcile stopped the first one's instances as orphans, then started its own under
the same names (docs/fleet.md, "One controller per service"). The controller asks with
its pre-flight (runtimes/ssh_release.py, in the batch that already goes to each host):
nothing is changed on a host owned by another controller.

Modes: "claim" (a first deployment, once every host was found ready: recorded if nobody
is, refused if another is), "check" (a deployment's pre-flight batch, down, exec: refused
if another is, nothing recorded), "take" (`zerodown hosts
--take-over`), "release" (`down`: removed if it is `me`), "look" (`zerodown hosts`). The
file is written whole (write_atomic: durable on return) under a lock of its own, so two
controllers claiming at once record one of them, and the other is told.

    other_than(service_dir, my_id)    # the record when it names another controller, else None

The agent asks other_than before each change to the service's instances it is asked for
(agent.py `owned`): a deployment that was running when another controller took over is
refused at its next start or stop on that host (NotOwner), not only at its next pre-flight.
"""

from __future__ import annotations

import fcntl
import json
import os
import time

from zerodown.atomic_write import write_atomic

FILE = "owner.json"
MODES = ("claim", "check", "take", "release", "look")
TAKE_OVER = "zerodown hosts --take-over"  # the way out of another's or an unreadable record


class Unreadable(ValueError):
    """The owner record cannot be read: the agent's answer says so by its kind
    (agent.answer), and the controller refuses as for another controller's."""


class NotOwner(ValueError):
    """A change asked by a controller the service's owner record here does not name: the
    agent's answer carries the record (agent.answer) and the controller says whose it is."""

    def __init__(self, record: dict, service: str):
        super().__init__(f"{service} here is deployed by another controller: "
                         f"{record.get('where')} (controller {str(record.get('id'))[:8]})")
        self.record, self.service = record, service


def other_than(service_dir: str, my_id: str) -> dict | None:
    """The owner record of `service_dir` when it names a controller other than `my_id`;
    None when it names `my_id` or there is none (a first deployment's first acts). A read
    of a small file replaced whole (no lock): the cost of a guard on every change.
    Unreadable: whose it is cannot be told."""
    now = _read(service_dir)
    return now if now is not None and now.get("id") != my_id else None


def owner(service_dir: str, me: dict | None, mode: str) -> dict:
    """{"owner": the controller recorded after this call, or None; "other": the one that
    refuses `me` (claim, check), else absent; "was": the one `take` replaced; "new": True
    where a claim recorded `me` where nobody was (what a refused claim lets go again)}."""
    if mode not in MODES:
        raise ValueError(f"no owner mode {mode!r}; valid: {', '.join(MODES)}")
    if mode in ("look", "check"):  # a read of a file replaced whole: no lock, no folder made
        now = _read(service_dir)
        other = mode == "check" and now is not None and (me is None or now.get("id") != me["id"])
        return {"owner": now, **({"other": now} if other else {})}
    os.makedirs(service_dir, exist_ok=True)
    with open(os.path.join(service_dir, FILE + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            now = _read(service_dir)
        except Unreadable:  # a take-over is the way out the refusal names: it replaces it
            if mode != "take":
                raise
            now = {"id": "?", "where": "an unreadable owner record"}
        mine = now is not None and me is not None and now.get("id") == me["id"]
        if mode == "release":
            if mine:  # not synced: lost, it names this controller again, which is harmless
                os.unlink(os.path.join(service_dir, FILE))
            return {"owner": None if mine else now}
        if now is not None and not mine and mode != "take":
            return {"owner": now, "other": now}
        assert me is not None  # claim and take are sent with this controller's record
        if mine and now is not None and now.get("where") == me.get("where"):
            return {"owner": now}
        # kept: since when this controller owns it (a new `where`: its folder moved)
        since = now.get("since", time.time()) if mine and now is not None else time.time()
        record = {"id": me["id"], "where": me["where"], "since": since}
        write_atomic(os.path.join(service_dir, FILE), json.dumps(record) + "\n")
        return {"owner": record, **({"was": now} if now is not None and not mine else {}),
                **({"new": True} if now is None else {})}


def _read(service_dir: str) -> dict | None:
    path = os.path.join(service_dir, FILE)
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise Unreadable(unreadable(path, str(e))) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        raise Unreadable(unreadable(path, "not an owner record: no id"))
    return doc


def unreadable(path: str, why: str) -> str:
    return (f"the service's owner record here cannot be read: {path} ({why}); "
            f"`{TAKE_OVER}` replaces it")
