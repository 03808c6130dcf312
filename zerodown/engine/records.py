"""What the state store reads and writes: its rows as frozen dataclasses, and its errors."""

from __future__ import annotations

from dataclasses import dataclass

from zerodown.engine.lifecycle import Phase
from zerodown.errors import ZerodownError
from zerodown.model import Instance, InstanceRef, RoutingTable
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

    def instance(self, service: str) -> Instance | None:
        """The Instance a runtime knows, or None if its start was never recorded."""
        if self.address is None:
            return None
        return Instance(service, self.ref.revision, self.ref.slot, self.address, self.pid)


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


@dataclass(frozen=True)
class StepRecord:
    index: int
    description: str
    started_at: float | None
    finished_at: float | None
    outcome: str | None
    attempts: int

    @property
    def in_progress(self) -> bool:
        return self.started_at is not None and self.finished_at is None


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
