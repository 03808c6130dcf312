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
from zerodown.model import RoutingTable
from zerodown.routers import haproxy_attach as attach
from zerodown.routers import haproxy_render as render
from zerodown.routers import haproxy_runtime_api as runtime_api
from zerodown.routers import haproxy_stats
from zerodown.routers.haproxy_cli import parse_proc
from zerodown.routers.haproxy_process import HAProxyProcess
from zerodown.routers.haproxy_state import State, loads

SERVERS = 4  # `show stat`'s type filter: server rows only (no frontend, no backend summary)


class HAProxyObserver(HAProxyProcess):
    """drained() and stats() of HAProxyRouter; see the module docstring."""

    _collector: threading.Thread | None = None

    def drained(self, backend_id: str) -> bool:
        """One look: one call to HAProxy's host (over SSH one round trip) with one Runtime
        API command; the master CLI is asked too only while a reload's old workers may
        still carry requests (state.old_workers)."""
        with self._locked():
            return self._drained(*self._observe(), backend_id)

    def drain_look(self, backend_ids) -> tuple[dict[str, tuple[bool, None]], RoutingTable]:
        """{backend: (drained, None)} and the table in force, from one look (Router,
        optional): a drain's last look is the stop's router check (engine/draining.py)."""
        with self._locked():
            state, rows = self._observe()
            return {b: (self._drained(state, rows, b), None) for b in backend_ids}, state.table

    def _drained(self, state: State, rows: list[dict[str, str]], backend_id: str) -> bool:
        if backend_id in state.table.backends():
            return False
        name = render.server_name(backend_id)
        if name not in state.owners:
            return True  # never routed here: nothing can be in flight
        if haproxy_stats.in_flight(rows + self._old_rows(state), name):
            return False
        if self.attach_backend is not None:  # drained: its server goes from their backend
            if attach.collect(self, state, self._kept(state))[1]:
                self._collect_later()
            self._save(state)
        return True

    def stats(self) -> dict:
        with self._locked():
            state, rows = self._observe()
            weights = {r.name: r.weight for r in state.table.revisions}
            return haproxy_stats.stats(rows, state.owners, state.retired, weights)

    def _observe(self) -> tuple[State, list[dict[str, str]]]:
        """haproxy.json and the current worker's `show stat` of servers, in one call to
        HAProxy's host; attach mode: of its one backend, which plays lane 0 in the counting."""
        command = f"show stat {self.attach_backend or -1} {SERVERS} -1"
        with self.cli.talking():
            text, answers = self.host.batch([("read_text", [str(self.state_file)]),
                                             self.cli.batch_call([command])])
        state = loads(text, str(self.state_file))
        rows = runtime_api.parse_stat(self.cli.checked_all([command], answers)[0])
        if self.attach_backend is not None:
            rows = [dict(r, pxname=render.lane_backend(0)) for r in rows
                    if r.get("pxname") == self.attach_backend]
        return state, rows

    def _old_rows(self, state: State) -> list[dict[str, str]]:
        """`show stat` of the old workers a reload left finishing their requests; those
        that exited are forgotten (saved), so a drain asks the master nothing once none is left."""
        if not state.old_workers:
            return []
        listed = self._master_ask("show proc")
        if not listed:  # the master did not answer: whether they run is unknown
            return []
        old = set(parse_proc(listed)[1])
        if left := [pid for pid in state.old_workers if pid in old]:
            rows = [r for pid in left
                    for r in runtime_api.parse_stat(self._master_ask(f"@!{pid} show stat"))]
        else:
            rows = []
        if left != state.old_workers:
            state.old_workers = left
            self._save(state)
        return rows

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
