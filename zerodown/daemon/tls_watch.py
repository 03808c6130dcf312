"""The controller hands a renewed TLS certificate to the running load balancer, between
deployments (certbot and acme.sh renew into the same files and tell nobody).

One thread; every `tls.check_every` (30 s by default, the first look at once) it reads the
service's certificate and key files and, when their contents changed since the load
balancer was last handed them, has the router take them (tls_refresh.py decides,
Router.refresh_tls acts under the lock the deployments' router calls take, so never in
the middle of an apply). A `tls.renewed` event says it was done; a pair that does not
load is not handed over and a `tls.refused` event names the file and why, once for as
long as the files stay so.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from typing import Callable

from zerodown import tls_refresh
from zerodown.controller import Controller
from zerodown.daemon.watchdog import looking

TICK = 1.0  # how often it asks itself whether a look is due (tls.check_every: at least 1s)
IDLE = 30.0  # without `tls:`, when the file is read again (a section added later)


class TlsWatch:
    def __init__(self, controller: Callable[[], Controller], service: str,
                 log: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic):
        self.controller, self.service, self.log, self.clock = controller, service, log, clock
        self._next, self._every = 0.0, IDLE
        self._said: tuple[str, ...] = ()  # the refusals last told: not told again each look

    def run(self, stop: threading.Event) -> None:
        looking(self.controller, self.check, TICK, stop, self._failed)

    def _failed(self, error: Exception) -> None:
        self._next = self.clock() + max(self._every, IDLE)  # not every second
        self.log(f"tls watch: {error}")

    def check(self, store) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self._every
        # A controller per look: the config read anew (tls: added, its files or check_every
        # changed, the router moved) and the router built from it, which holds the files it
        # was made with. Keeping them would take the same read to see a change, to save
        # under 1 ms a look; the pair's own read is most of a look's ~2-7 ms.
        with closing(self.controller()) as ctl:
            # loading reads not the files (config_files.py): refresh checks them, and a
            # broken pair is refused there, naming the file and why
            cfg = ctl.working_config()
            self._every = cfg.tls.check_every if cfg.tls else IDLE
            self._next = now + self._every
            if cfg.tls is None:
                return
            try:
                outcome = tls_refresh.refresh(ctl.router(cfg), cfg.tls)
            except OSError as e:  # its record not written: the next look hands them again
                return self._failed(e)
        self._tell(outcome.refused, store)
        if outcome.handed and not outcome.first:  # a first look hands them over unsaid
            store.event(self.service, "tls.renewed", "the certificate files changed: handed "
                        "to the running load balancer (new handshakes get them)")
            self.log("tls: renewed certificates handed to the load balancer")

    def _tell(self, refused: tuple[str, ...], store) -> None:
        """A `tls.refused` event and a log line, once for as long as the refusal stays."""
        if refused and refused != self._said:
            text = "; ".join(refused)
            store.event(self.service, "tls.refused", f"certificates not handed to the load "
                        f"balancer: {text}")
            self.log(f"tls: not handed over: {text}")
        self._said = refused
