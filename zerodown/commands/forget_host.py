"""`zerodown hosts --forget HOST`: a host taken out of runtime.hosts that is gone for good.

    zerodown hosts --forget app2
    app2 forgotten: shop-r1-s1, shop-r1-s4 marked stopped (not asked: ...)

While live rows record instances on a host the list no longer has, every adopt asks it
and a deployment that stops them is pre-flighted there (engine/unlisted.py): gone, it
refuses them, and `down` keeps its rows, for ever. This marks those rows stopped (one
durable transaction, a host.forgotten event) and sends nothing there: zerodown never
asks that host again, so what may still run on it is the user's to stop.
"""

from __future__ import annotations

from zerodown.errors import UsageError
from zerodown.model import fleet_hosts


def forget(ctl, cfg, host: str) -> int:
    service, listed = cfg.service, fleet_hosts(cfg.runtime)
    if host in listed:
        raise UsageError(f"{ctl.file}: {host} is in runtime.hosts; remove it from "
                         "runtime.hosts first (a listed host's instances are stopped by "
                         "deployments and `zerodown down`)")
    store = ctl.store() if ctl.has_state() else None
    off = sorted(store.live_hosts(service) - set(listed)) if store is not None else []
    if store is None or host not in off:
        raise UsageError(f"no live instance of {service} is recorded on {host}; " + (
            f"hosts off runtime.hosts with live instances: {', '.join(off)}" if off
            else "no host off runtime.hosts has any"))
    from zerodown.engine.service_lock import held
    from zerodown.engine.store_instances import refuse_while_active
    refuse_while_active(store, service, host)  # named here: the lock would only give a pid
    with held(store.lock_path(service), service):  # not while a reconcile adopts
        refs = store.forget_host(service, host)  # (which checks for a deployment again)
    if not refs:  # stopped by someone since the check above
        raise UsageError(f"no live instance of {service} is recorded on {host} any more")
    print(f"{host} forgotten: {', '.join(r.name(service) for r in refs)} marked stopped "
          f"(nothing was sent to {host}; if that machine ever comes back they may still run "
          "there: zerodown will not look there again)")
    return 0
