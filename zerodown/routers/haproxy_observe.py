"""What a managed or attached haproxy router reads of HAProxy without changing it: whether
a server left and drained (drained), and the counters of each revision (stats).

HAProxyObserver is HAProxyRouter's base class (haproxy.py), as HAProxyProcess is: its
methods read what the router sets up (the stats socket, the master CLI, attach_backend)
and call its state (_load, _save, _locked). In attach mode a drained server is deleted
from the user's backend (haproxy_attach.py), in the background once HAProxy lets it go.
"""

from __future__ import annotations

import threading
import time

from zerodown.errors import ZerodownError
from zerodown.routers import haproxy_attach as attach
from zerodown.routers import haproxy_render as render
from zerodown.routers import haproxy_runtime_api as runtime_api
from zerodown.routers import haproxy_stats
from zerodown.routers.haproxy_cli import parse_proc
from zerodown.routers.haproxy_process import HAProxyProcess
from zerodown.routers.haproxy_state import State


class HAProxyObserver(HAProxyProcess):
    """drained() and stats() of HAProxyRouter; see the module docstring."""

    _collector: threading.Thread | None = None

    def drained(self, backend_id: str) -> bool:
        with self._locked():
            state = self._load()
            if backend_id in state.table.backends():
                return False
            name = render.server_name(backend_id)
            if name not in state.owners:
                return True  # never routed here: nothing can be in flight
            if haproxy_stats.in_flight(self._rows(old_workers=True), name):
                return False
            if self.attach_backend is not None:  # drained: its server goes from their backend
                if attach.collect(self, state, self._kept(state))[1]:
                    self._collect_later()
                self._save(state)
            return True

    def stats(self) -> dict:
        with self._locked():
            state = self._load()
            weights = {r.name: r.weight for r in state.table.revisions}
            return haproxy_stats.stats(self._rows(), state.owners, state.retired, weights)

    def _kept(self, state: State) -> set[str]:
        return {render.server_name(b) for b in state.table.backends()}

    def _collect_later(self) -> None:
        """Attach mode: delete, once their idle connections close (their instances stop
        after the drain), the servers HAProxy would not delete yet; in the background."""
        if self._collector is not None and self._collector.is_alive():
            return

        def run() -> None:
            deadline = time.monotonic() + attach.LATER
            while time.monotonic() < deadline:
                time.sleep(attach.LATER_POLL)
                try:
                    with self._locked():
                        state = self._load()
                        left = attach.collect(self, state, self._kept(state))
                        self._save(state)
                except ZerodownError:
                    return  # their HAProxy went away: the next start reconciles
                if not left[1]:
                    return
        self._collector = threading.Thread(target=run, name="haproxy attach: delete servers",
                                           daemon=True)
        self._collector.start()

    def _rows(self, old_workers: bool = False) -> list[dict[str, str]]:
        """`show stat` of the current worker, and of old ones still draining after a reload."""
        rows = runtime_api.parse_stat(self.cli.run("show stat"))
        if self.attach_backend is not None:  # its one backend plays lane 0 for the counting
            return [dict(r, pxname=render.lane_backend(0)) for r in rows
                    if r.get("pxname") == self.attach_backend]
        if old_workers:  # no master answering: no old workers listed
            for pid in parse_proc(self._master_ask("show proc"))[1]:
                rows += runtime_api.parse_stat(self._master_ask(f"@!{pid} show stat"))
        return rows
