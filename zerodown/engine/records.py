"""What the state store reads and writes: its rows as frozen dataclasses, and its errors
(SQLite's own translated into one that names the file and what to do: `unavailable`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Sequence

from zerodown.engine.lifecycle import Phase
from zerodown.errors import ZerodownError
from zerodown.model import Instance, InstanceRef, RoutingTable, on_host
from zerodown.plan import Step


class StoreError(ZerodownError):
    """The state store cannot be read or written (locked, corrupt, unreachable)."""


class StoreUnavailable(StoreError):
    """SQLite cannot read or write the file (disk full, damaged, an I/O error). The file
    holds what the last committed transaction wrote; nothing more is acted on until it
    works again, and then `zerodown resume` goes on from the step in progress."""


class NotFound(StoreError):
    """No such service, revision or deployment."""


class DeploymentConflict(StoreError):
    """The service already has an active deployment: one at a time."""


class PlanMoved(StoreError):
    """A step write found the deployment's cursor elsewhere: its plan was replaced."""


@dataclass(frozen=True)
class Event:
    id: int
    time: float
    service: str
    deployment: int | None
    kind: str
    message: str
    data: dict


@dataclass(frozen=True)
class InstanceRow:
    ref: InstanceRef
    state: str
    address: str | None
    pid: int | None
    runs_on: str | None = None  # the host it was started on (None: local, or an older store)

    def instance(self, service: str) -> Instance | None:
        """The Instance a runtime knows, or None if its start was never recorded."""
        if self.address is None:
            return None
        return Instance(service, self.ref.revision, self.ref.slot, self.address, self.pid,
                        runs_on=self.runs_on)

    def host(self, hosts: Sequence[str]) -> str | None:
        """The host it runs on (model.on_host), `hosts` being today's runtime.hosts."""
        return on_host(self.runs_on, hosts, self.ref.slot.index)


@dataclass(frozen=True)
class Change:
    """One instance's new state; with `instance`, also its address and pid (None: unknown)."""

    ref: InstanceRef
    state: str
    instance: Instance | None = None
    set_address: bool = False  # True with instance=None forgets the address (a new life)


@dataclass(frozen=True)
class Deployment:
    id: int
    service: str
    kind: str  # "deploy" | "rollback" (asked for by `zerodown rollback`)
    from_revision: int | None
    to_revision: int
    strategy: dict  # the `strategy:` section it was planned with
    steps: tuple[Step, ...]
    plan_kind: str  # which plan is running: deploy | promote | rollback | abort
    cursor: int  # index of the next step to run
    phase: Phase
    on_failure: str
    request: str | None
    error: str | None
    created: float
    updated: float

    @property
    def step(self) -> Step | None:
        return self.steps[self.cursor] if self.cursor < len(self.steps) else None

    @property
    def length(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Listed:
    """A deployment as a list shows it (Store.listed: history, the API's list of up to
    1000): its plan's length and the step at its cursor, the plan itself not parsed."""
    id: int
    service: str
    kind: str
    from_revision: int | None
    to_revision: int
    strategy: dict
    plan_kind: str
    cursor: int
    phase: Phase
    error: str | None
    created: float
    updated: float
    length: int  # the plan's steps
    step: Step | None  # the one at the cursor; None past the last


@dataclass(frozen=True)
class StepRecord:
    index: int
    description: str
    started_at: float  # (NOT NULL: a record is made by the step's start)
    finished_at: float | None
    outcome: str | None
    attempts: int
    # runtime ssh: (instance, host) for each instance the step acts on, as decided when it
    # (last) began: the host recorded for an existing instance, today's placement for one it
    # starts (plan.instance_hosts). None: not recorded (no fleet, a step of no instance, a
    # step begun by an older zerodown), and then a view derives it as it did before.
    placed: tuple[tuple[str, str], ...] | None = None

    @property
    def in_progress(self) -> bool:
        return self.started_at is not None and self.finished_at is None

    @property
    def hosts(self) -> tuple[str, ...] | None:
        """The hosts it acted on, each once, in the order of its instances."""
        return None if self.placed is None else tuple(dict.fromkeys(h for _, h in self.placed))


@dataclass(frozen=True)
class Routing:
    version: int  # the last version handed out: every new table gets a higher one
    epoch: int  # this store's authority over the load balancer (zerodown/table_version.py)
    table: RoutingTable  # the last table a router confirmed
    staged: RoutingTable | None  # handed to a router, not yet confirmed
    staged_by: tuple[int, int] | None  # (deployment, step index) that staged it


@dataclass(frozen=True)
class RevisionRecord:
    service: str
    number: int
    version: str
    config: dict  # {"file": ..., "source": the zerodown.yaml mapping, overrides applied}


# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xff) that say what to do.
_FULL, _CORRUPT, _NOTADB, _BUSY, _LOCKED, _IOERR, _READONLY, _CANTOPEN = 13, 11, 26, 5, 6, 10, 8, 14


def unavailable(path: str, e: sqlite3.Error, doing: str = "read",
                waited: float | None = None) -> StoreUnavailable:
    """SQLite's error as a message naming the file and what the user can do about it."""
    code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
    said = f"(SQLite: {e})"
    if code == _FULL:
        return StoreUnavailable(
            f"cannot write the state store {path}: its disk is full {said}. Nothing it holds "
            f"was lost and serving goes on; free space on that file system, then run the "
            f"command again (`zerodown resume` continues a deployment from its step)")
    if code in (_CORRUPT, _NOTADB):
        return StoreUnavailable(
            f"the state store {path} is damaged and cannot be read {said}. Move it aside "
            f"(mv {path} {path}.damaged) and run the command again: zerodown rebuilds what "
            f"the load balancer and the runtime know, and stops no instance the load balancer "
            f"routes to")
    if code in (_BUSY, _LOCKED):
        wait = f"waited {waited:g}s" if waited is not None else "in use"
        return StoreUnavailable(f"the state store {path} is busy ({wait} for another zerodown "
                                f"process) {said}; try again")
    if code in (_READONLY, _CANTOPEN, _IOERR):
        return StoreUnavailable(f"cannot {doing} the state store {path} {said}: check that the "
                                f"file and its folder exist, are writable, and that the disk "
                                f"works, then run the command again")
    return StoreUnavailable(f"cannot {doing} the state store {path} {said}")
