"""`zerodown hosts --take-over`: this controller becomes the one that deploys the service
on every host of runtime.hosts (zerodown/hosts/owner.py), in place of another, and on
every host the list no longer has where this store records the service's live rows
(engine/unlisted.off_list: its deployment and `down` stop them there).

    zerodown hosts --take-over
    zdf1: taken over from ana@laptop:/home/ana/shop/.zerodown (controller 3f0c1a2b, since ...)

For a controller that is done with the service (a laptop lost, a daemon moved): while it
still runs a deployment, that one goes on acting on the hosts. Refused while this one has
a deployment active (its plan was made under the old owner's view of no one's instances).

What runs is left as it is: the record changes, nothing that serves. The other
controller's instances are not adopted into this store: their revisions (numbers,
versions, configs) are in that controller's store only, and the same name (shop-r1-s0)
may be another revision here. This controller's next deployment reconciles as always:
an instance its store does not own is stopped, unless its load balancer routes to it
(engine/reconciling.py); with one load balancer on router.host shared by both and an
empty store here, the store is rebuilt from what it routes first (engine/recovery.py).
`zerodown down` stops them too (it stops every instance of the service it finds).
"""

from __future__ import annotations

import sys

from zerodown.engine.unlisted import off_list
from zerodown.errors import RuntimeFailure, UsageError
from zerodown.owner import describe
from zerodown.runtimes import ssh_owner


def take_over(ctl, cfg) -> int:
    service = cfg.service
    store = ctl.store() if ctl.has_state() else None
    active = store.active_deployment(service) if store is not None else None
    if active is not None:
        raise UsageError(f"deployment {active.id} of {service} is {active.phase}; a take-over "
                         f"waits for it to end (or `zerodown abort`)")
    runtime = ctl.runtime(cfg)
    # a host off the list with the service's live rows: this controller's deployment stops
    # them there, refused while the old owner is recorded there
    off = [] if store is None else off_list(store, service, getattr(runtime, "listed_as", None),
                                           runtime.names)
    failed = 0
    for host, was in ssh_owner.take_over(runtime, off).items():
        if isinstance(was, RuntimeFailure):
            failed += 1
            print(f"{host}: not taken over: {was}", file=sys.stderr)
        elif was is None:
            print(f"{host}: {service} is this controller's ({runtime.me.where})")
        else:
            print(f"{host}: {service} taken over from {describe(was)}")
    if failed:
        print(f"zerodown hosts --take-over: {failed} host{'s' if failed > 1 else ''} did not "
              f"answer; run it again once they do (deployments are refused there until "
              f"then)", file=sys.stderr)
        return 1
    print(f"what runs is left as it is: this controller's next deployment stops the "
          f"instances its store does not own (unless its load balancer routes to them), "
          f"and so does `zerodown down`")
    return 0
