"""Reconciling what runs with what the store owns, before a deployment acts (runner.Engine).

The runtime is asked what runs (`adopt`); an instance the store owns is adopted
(its address and pid written back), one it does not own is an orphan and is
drained and stopped, unless the load balancer still routes to it (a store lost
mid-deployment: stopping it could take users' only backends). Hosts that do not
answer keep their instances as recorded; an intent whose instance never started
is dropped. An instance whose stop was sent and never confirmed (`stopping`: the
controller stopped meanwhile, or the stop failed) is stopped again if it still runs, and
taken as stopped if its host runs nothing for it (engine/stopping.py); so is one its
host reports a stop of under way (Instance.stopping), whatever its row says. Written to
the store before any stop. `engine` is the runner.Engine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from zerodown.engine import stopping, unlisted
from zerodown.engine.recovery import still_routed
from zerodown.engine.draining import DRAIN_POLL
from zerodown.engine.store import Change
from zerodown.errors import NotOwner, RouterError, ZerodownError
from zerodown.model import Adopted, Instance, fleet_hosts, on_host, silent_host


def _missing(engine, hosts: tuple[str, ...], ref, row) -> str:
    """Why an instance the store has (`row`) was not found. Its host was asked, listed or
    not, when recorded with the row (unlisted.recorded): it is not running there. A row of
    an older store (none recorded) is placed by its revision's runtime.hosts, as it was
    when it started: on a host that runtime.hosts (`hosts`) no longer lists, it was not
    looked for and may well run there still, and the event says so; unless routed (a
    deployment replacing it stops it there), its row is taken as gone all the same."""
    name = ref.name(engine.service)
    if row.runs_on:
        return f"instance {name} is {row.state} but not running on {row.runs_on}"
    try:
        then = engine.store.revision(engine.service, ref.revision).config["source"][
            "runtime"]["hosts"]
    except (KeyError, TypeError, ZerodownError):
        then = None
    host = on_host(None, [str(h) for h in then or ()], ref.slot.index) if hosts else None
    if host is not None and host not in hosts and row.state == "routed":
        return (f"instance {name} was started on {host}, which runtime.hosts no longer "
                f"lists: it was not looked for there; routed, it is stopped there when a "
                f"deployment replaces it (SshRuntime.host_running)")
    if host is not None and host not in hosts:
        return (f"instance {name} was started on {host}, which runtime.hosts no longer "
                f"lists: it was not looked for there and may still run (stop it there, or "
                f"list {host} again for `zerodown down`)")
    return f"instance {name} is {row.state} but not running"


def reconcile(engine, adopted: Callable[[], list] | None = None) -> None:
    """`adopted`: the runtime's adopt() asked already (Engine.run asks it beside the proof's
    baseline), its answer awaited here."""
    engine.recover()
    # Stops another engine of this process finishes (engine/finishing.py): left to it, not
    # adopted, stopped again or written. Read before the rows and the adopt (Engine.run
    # leaves out those it read before its adopt began): one let go of since was gone
    # before the adopt looked, and its row written stopped (Finishing.owned).
    theirs = engine.finishing.owned()
    # before reading rows: see Start's intents
    found = left_out(adopted() if adopted is not None else engine.runtime.adopt(
        engine.service, unlisted.recorded(engine.store, engine.service)), theirs)
    rows = {ref: row for ref, row in engine.store.instances(engine.service, live=True).items()
            if ref not in theirs}
    changes, events, orphans = [], [], []
    hosts = fleet_hosts(engine.config.runtime)
    silent = getattr(found, "unreachable", {})  # hosts that did not answer: their
    if silent:  # instances are neither adopted nor taken for gone
        rows = {ref: row for ref, row in rows.items()
                if silent_host(found, row.host(hosts)) is None}
        events += [("host.unreachable", f"host {host} did not answer; its instances "
                    f"were left as they are: {why}") for host, why in sorted(silent.items())]
    unowned = [i for i in found if i.ref not in rows]
    try:
        kept, why = {i.ref for i in still_routed(engine.router, unowned)}, "it routes to it"
    except RouterError as e:  # cannot tell: stopping could take users' only backends
        kept, why = {i.ref for i in unowned}, f"it cannot say whether it routes to it ({e})"
    # Its host has a stop of it under way, its row not `stopping`: the intent of a Stop
    # step synced beside its stops (a runtime that stops once: steps.stop), taken by a power
    # loss after the SIGTERM went out. The host's mark stands in for it, written here
    # before anything is planned: no plan counts on a process that is exiting. Routed too:
    # every stop was guarded (the load balancer did not route to it), so that row is the
    # route-out's record, lazy, lost by the same power loss.
    marked = {i.ref: i for i in found if i.stopping and i.ref in rows
              and rows[i.ref].state != "stopping"}
    changes += [Change(ref, "stopping", inst) for ref, inst in marked.items()]
    rows = {ref: replace(row, state="stopping") if ref in marked else row
            for ref, row in rows.items()}
    # A stop decided already, and guarded then (a Stop step asks the load balancer first;
    # `down` stops the load balancer first): not asked again (a table `down` left names it)
    ending = [i for i in found if i.ref in rows and rows[i.ref].state == "stopping"]
    for inst in found:
        row = rows.get(inst.ref)
        if row is not None and row.state == "stopping":
            events.append(("instance.stopping", f"stopping {inst.id} at {inst.address} again: "
                           "its stop was decided but never confirmed"))
        elif row is None and inst.ref in kept:
            events.append(("instance.kept", f"not stopping {inst.id} at {inst.address}: the "
                           f"state store does not own it, but the load balancer: {why}"))
        elif row is None:
            orphans.append(inst)
            events.append(("instance.orphan", f"stopping {inst.id} at {inst.address}: it "
                           "runs, but the state store does not own it"))
        elif (row.address, row.pid) != (inst.address, inst.pid):
            changes.append(Change(inst.ref, row.state, inst))
            events.append(("instance.adopted", f"adopted {inst.id} at {inst.address}"))
        elif inst.runs_on and row.runs_on != inst.runs_on:  # a row of an older store:
            changes.append(Change(inst.ref, row.state, inst))  # its host, as it answered
    running = {i.ref for i in found}
    events += [("instance.missing", _missing(engine, hosts, ref, row))
               for ref, row in rows.items()
               if ref not in running and row.state in ("healthy", "routed")]
    # Out of the table and not found (stopped just before a crash, or died while kept for
    # a rollback): stopped, so no plan counts on it as a way back. So is one of an older
    # row (no host recorded) placed on a host runtime.hosts no longer lists, on purpose,
    # though it may run there (its event says so): no plan may count on an instance whose
    # host is not asked; listed again, that host's instance is found unowned, an orphan,
    # and stopped. A recorded host is asked, listed or not (unlisted.recorded).
    changes += [Change(ref, "stopped") for ref, row in rows.items()
                if ref not in running and row.state in ("healthy", "draining", "stopping")]
    # An intent whose instance never started (its host stopped answering mid-start, or
    # a crash mid-spawn): its host answers and runs nothing for it, so it goes. A Start
    # step run again writes its intent again.
    never = [ref for ref, row in rows.items()
             if ref not in running and row.state == "starting" and row.address is None]
    changes += [Change(ref, "stopped") for ref in never]
    events += [("instance.never_started", f"instance {ref.name(engine.service)} was to be "
                "started but never was; its intent is dropped") for ref in never]
    if changes or events:
        engine.store.set_instances(engine.service, changes, events)  # written before acted on
    for inst in orphans:
        try:
            drain_then_stop(engine, inst)
        except NotOwner as e:  # taken over: this store's orphans are the owner's instances
            engine._refused = e  # the deployment fails at its next step (stopping.refused)
            # said here too: with no deployment (a controller's start) nothing else says
            # it, and the instance.orphan event above said it was being stopped
            engine.store.event(engine.service, "instance.stop_failed",
                               f"{e}; {inst.id} was not stopped, nor what this reconcile "
                               f"had left to stop after it")
            return
    stopping.restop(engine, ending)


def left_out(found: list, refs: frozenset) -> list:
    """`found` (an adopt's answer) without the instances `refs`, its silent hosts kept."""
    if not refs:
        return found
    return Adopted([i for i in found if i.ref not in refs], getattr(found, "unreachable", None))


def drain_then_stop(engine, inst: Instance) -> None:
    """An orphan may have been routed until a moment ago (a store lost mid-deployment):
    its in-flight requests finish first, within drain_timeout."""
    deadline = engine.clock.now() + engine.config.drain_timeout
    try:
        while not engine.router.drained(inst.id) and engine.clock.now() < deadline:
            engine.clock.sleep(DRAIN_POLL)
    except RouterError:
        pass  # no load balancer to ask: nothing reaches it through one
    engine.runtime.stop(inst, engine.config.stop_grace)
