"""The controller notices a fleet host that answers again while a deployment is paused
for it (`on_host_failure: pause`), and acts by `on_host_return`.

    on_host_return: resume   # default: go on by itself, as soon as the host answers
    on_host_return: hold     # say so (event, status) and wait for `zerodown resume`

Why resume by itself: the pause was the system's, not a person's. A host that dropped
off the network for a minute at night comes back by itself; a person woken to type
`zerodown resume` adds nothing the controller cannot check (Argo Rollouts likewise goes
on by itself once what it waits for is there; only its explicit pause steps and aborts
wait for a person. Kamal has no controller: its deploy command fails and is run again).
What resuming does is what a person's resume does: the step that failed runs again; a
host silent again pauses it again. `hold` is for teams that want to look first.

One thread; every EVERY seconds, only while the active deployment is paused for a host,
it asks that host one trivial question (bounded by the runtime's connect and command
timeouts). Each pause is announced once (the store's events say whether it was, so a
restarted controller does not say it again): a `host.reachable` event, then the resume
(an `action` event by the controller, origin `host`). Not resumed, whatever the policy,
when another controller has taken the service over meanwhile (`zerodown hosts
--take-over`: docs/fleet.md, "One controller per service"): the event says whose it is.
"""

from __future__ import annotations

import threading
from contextlib import closing
from typing import Callable

from zerodown.controller import Controller, snapshot_config
from zerodown.engine.host_failure import paused_for_host
from zerodown.daemon.watchdog import looking
from zerodown.engine.lifecycle import PhaseError
from zerodown.errors import RuntimeFailure

EVERY = 2.0


class HostWatch:
    def __init__(self, controller: Callable[[], Controller], service: str,
                 wake: Callable[[], None], log: Callable[[str], None] = print,
                 answers: Callable[[str], bool] | None = None,
                 taken: Callable[[str], str | None] | None = None):
        self.controller, self.service, self.wake, self.log = controller, service, wake, log
        self._answers = answers  # host -> does it answer now (tests give their own)
        self._taken = taken      # host -> whose the service is, if another's (likewise)

    def run(self, stop: threading.Event) -> None:
        looking(self.controller, self.check, EVERY, stop, lambda e: self.log(f"host watch: {e}"))

    def check(self, store) -> None:
        d = store.active_deployment(self.service)
        found = None if d is None else paused_for_host(store, self.service, d)
        if found is None:
            return
        host, since = found
        # announced once per pause, as the store says (a restarted controller knows too)
        if store.events(self.service, d.id, after=since, kind="host.reachable"):
            return
        if not self.answers(host):
            return
        policy = snapshot_config(store, self.service, d.to_revision).on_host_return
        taken = self.taken_over(host)
        if taken is not None:  # another controller's now (hosts --take-over): not ours to
            policy = "hold"    # go on with; a person decides (abort, or take it back)
        if policy == "resume":
            try:  # first: a controller dying right after has resumed it, said or not
                store.signal(d.id, "resume")
            except PhaseError:
                return  # moved on meanwhile (a person resumed or aborted it)
        then = "resuming it" if policy == "resume" else \
            f"not resuming it: {taken}" if taken else \
            "on_host_return: hold: `zerodown resume` goes on"
        store.event(self.service, "host.reachable", f"host {host} answers again; deployment "
                    f"{d.id} was paused for it: {then}", d.id, host=host, policy=policy)
        self.log(f"host {host} answers again ({then})")
        if policy == "resume":
            why = f"host {host} answers again"
            store.event(self.service, "action", f"resume deployment {d.id} by the controller: "
                        f"{why}", d.id, action="resume", who="controller", origin="host",
                        reason=why)
            self.wake()

    def answers(self, host: str) -> bool:
        """Asked with a runtime of the config as it is now, let go after: one kept would
        hold the daemon's connections of the config it began with (runtimes/kept.py)
        for ever, and ask with its options."""
        if self._answers is not None:
            return self._answers(host)
        with closing(self.controller()) as ctl:
            check = getattr(ctl.runtime(), "answers", None)
            return check is not None and check(host)

    def taken_over(self, host: str) -> str | None:
        """Why the service on `host` is another controller's now (zerodown/owner.py), or
        None: this one's, nobody's, or not asked (tests that give `answers` only). Asked
        as answers() asks, with a runtime of the config as it is now."""
        if self._taken is not None or self._answers is not None:
            return self._taken(host) if self._taken is not None else None
        with closing(self.controller()) as ctl:
            check = getattr(ctl.runtime(), "check_owner", None)
            try:
                if check is not None:
                    check([host])
            except RuntimeFailure as e:
                return str(e).split(":", 1)[-1].strip()  # past "refused, nothing was changed:"
        return None
