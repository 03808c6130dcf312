"""A shadow through nginx: its `mirror` copies users' requests to zerodown's comparator.

NginxShadow is NginxRouter's base class (nginx.py): the Router's optional shadow()
and shadow_stats(), Diffy-style. The comparator (zerodown/shadow/comparator.py)
replays each copy to a stable instance and to the shadow and compares the answers;
the mirror's configuration is nginx_mirror.py's. Its methods use the router's
master, config and lock (_master, _read_conf, _table_of, _put, _locked).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from zerodown.errors import RouterError
from zerodown.model import RoutingTable
from zerodown.protocols import Host
from zerodown.shadow import comparing
from zerodown.shadow.mirror import read_settings

if TYPE_CHECKING:
    from zerodown.routers.nginx_process import Proc


class NginxShadow:
    # Set and defined by NginxRouter (nginx.py), declared here for the type checker.
    host: Host
    state_dir: Path
    pid_file: Path

    if TYPE_CHECKING:
        def table(self) -> RoutingTable: ...
        def _master(self) -> Proc | None: ...
        def _locked(self) -> AbstractContextManager[None]: ...
        def _read_conf(self) -> str: ...
        def _table_of(self, text: str) -> RoutingTable: ...
        def _put(self, table: RoutingTable, current: RoutingTable, old_text: str) -> bool: ...

    def shadow(self, settings: dict | None) -> dict | None:
        """Mirror users' requests to a shadow (Router, optional), Diffy-style: nginx's
        `mirror` sends each copy to a comparator process (zerodown/shadow/comparator.py)
        that replays it to a stable instance and to the shadow and compares the answers;
        None stops it. The shadow's stats in the embedded proxy's shape (docs/proxy.md)."""
        with self._locked():
            if self._master() is None:
                raise RouterError(f"nginx is not running (no master by {self.pid_file}); "
                                  f"start it first (ensure_running)")
            running = self._shadow_state()
            if settings is None:
                if running is None:
                    return None
                try:
                    self._rerender(None)  # nginx stops mirroring first, then the last counts
                    return comparing.stats(running)
                finally:
                    comparing.stop(running, self.state_dir)
            if self.host.remote:  # validate refuses it: the comparator runs here
                raise RouterError("nginx on router.host cannot mirror to a shadow yet")
            try:
                doc = read_settings(settings)
            except ValueError as e:
                raise RouterError(f"shadow settings: {e}") from None
            if running is not None:
                comparing.stop(running, self.state_dir)
            doc["stable"] = self._stable_address(doc["address"])
            started = comparing.start(doc, self.state_dir)
            try:
                self._rerender(started["comparator"])
            except RouterError:
                comparing.stop(started, self.state_dir)
                raise
            return comparing.stats(started)

    def shadow_stats(self) -> dict | None:
        running = self._shadow_state()
        return comparing.stats(running) if running is not None else None

    def _shadow_state(self) -> dict | None:
        return comparing.state(self.state_dir)

    def _rerender(self, mirror: str | None) -> None:
        """The table in force again, mirroring to `mirror` (a comparator) or not."""
        old_text = self._read_conf()
        table = self._table_of(old_text)
        if mirror is None:
            comparing.forget(self.state_dir)
        self._put(table, table, old_text)

    def _stable_address(self, shadow: str) -> str:
        """An instance of the revision users are routed to, where copies are replayed."""
        revisions = sorted((r for r in self.table().revisions if r.weight > 0),
                           key=lambda r: -r.weight)
        for r in revisions:
            for b in r.backends:
                if b.address != shadow:
                    return b.address
        raise RouterError("no revision serves users through nginx yet: a shadow compares "
                          "the new revision's answers with stable's, so stable must run")
