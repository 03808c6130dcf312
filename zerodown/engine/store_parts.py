"""What each part of engine/store.Store (store_deployments.py, store_steps.py, ...) uses of
Store and of the other parts, declared once for the type checker: a part is a mixin, so on
its own it has none of them. Declared only while type checking (nothing at run time: the
methods Store inherits are the parts' own); mypy checks each real definition against these."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    from zerodown.engine.lifecycle import Phase
    from zerodown.engine.records import (Change, Deployment, InstanceRow, RevisionRecord,
                                         StepRecord)
    from zerodown.engine.transaction import Tx
    from zerodown.model import InstanceRef
    from zerodown.plan import ServiceState


class StoreParts:
    db: sqlite3.Connection  # (Store.__init__)
    path: str
    _mutex: threading.RLock  # (Store.__init__: its connection's threads, one at a time)

    if TYPE_CHECKING:
        # Store's own (store.py)
        def _tx(self, durable: bool = True) -> AbstractContextManager[Tx]: ...
        def _one(self, sql: str, params: Sequence = ()) -> sqlite3.Row | None: ...

        # the parts' (each in its file)
        def deployment(self, id: int) -> Deployment: ...
        def _phase(self, tx: Tx, d: Deployment, to: Phase, why: str, asked: str | None = None,
                   **columns: Any) -> None: ...
        def revision(self, service: str, number: int) -> RevisionRecord: ...
        def stable(self, service: str) -> tuple[int | None, int | None]: ...
        def instances(self, service: str, refs: Iterable[InstanceRef] | None = None,
                      live: bool = False) -> dict[InstanceRef, InstanceRow]: ...
        def service_state(self, service: str) -> ServiceState: ...
        def _write_instances(self, tx: Tx, service: str, changes: Sequence[Change]) -> None: ...
        def _applied(self, tx: Tx, service: str, routed: frozenset[InstanceRef]) -> None: ...
        def _begin(self, tx: Tx, id: int, index: int,
                   changes: Sequence[Change] = ()) -> Deployment: ...
        def _at(self, id: int, index: int) -> Deployment: ...
        def step_record(self, id: int, index: int) -> StepRecord | None: ...
