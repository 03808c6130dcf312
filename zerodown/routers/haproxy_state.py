"""haproxy.json: what the haproxy router keeps between calls, as text and back.

The table in force (written before it is acted on), the lanes it is laid out in,
the shape of the configuration the running master has, which revision owns each
server, the counters of servers gone (`retired`, so stats() keeps counting across
deletions and reloads), a digest of each file last written, and the old workers a
reload left draining.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from zerodown import table_json
from zerodown.errors import RouterError
from zerodown.model import EMPTY_TABLE, HealthCheck, RoutingTable, Sticky
from zerodown.routers import haproxy_render as render


@dataclass
class State:
    """haproxy.json: the table in force and what it takes to keep counting."""

    table: RoutingTable = EMPTY_TABLE
    layout: render.Layout | None = None
    running_shape: render.Shape | None = None  # the shape of the config the master runs
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)  # server -> (rev, id)
    retired: dict[str, dict[str, int]] = field(default_factory=dict)  # rev -> counters
    # file name -> sha256 of the text last written there: an apply sends only what changed
    written: dict[str, str] = field(default_factory=dict)
    # workers a reload left finishing their requests (pids): a drain asks the master
    # about them, and about nothing while there are none
    old_workers: list[int] = field(default_factory=list)


def loads(text: str | None, path: str) -> State:
    """haproxy.json's text (None: no file yet) as a State; a damaged one names the file."""
    if text is None:
        return State()
    try:
        data = json.loads(text)
    except ValueError as e:
        raise RouterError(f"{path}: the haproxy router's state is damaged ({e}); "
                          f"fix or remove it to start with an empty table") from None
    return State(table_json.from_dict(data["table"]),
                 _layout_from(data.get("layout")), _shape_from(data.get("running_shape")),
                 {k: tuple(v) for k, v in data.get("owners", {}).items()},
                 data.get("retired", {}), data.get("written", {}), data.get("old_workers", []))


def dumps(state: State) -> str:
    """haproxy.json's text."""
    return json.dumps({
        "table": table_json.to_dict(state.table),
        "layout": _layout_to(state.layout),
        "running_shape": asdict(state.running_shape) if state.running_shape else None,
        "owners": state.owners, "retired": state.retired, "written": state.written,
        "old_workers": state.old_workers},
        indent=1) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def own(state: State, table: RoutingTable) -> None:
    """Remember which revision and backend each server name of `table` stands for."""
    for rev in table.revisions:
        for b in rev.backends:
            state.owners[render.server_name(b.id)] = (rev.name, b.id)


def _shape_from(data: dict | None) -> render.Shape | None:
    if not data:
        return None
    return render.Shape(data["lanes"], tuple(tuple(s) for s in data["rule_sources"]),
                        Sticky(**data["sticky"]) if data.get("sticky") else None,
                        HealthCheck(**data["health_check"]) if data.get("health_check") else None)


def _layout_to(layout: render.Layout | None) -> dict | None:
    if layout is None:
        return None
    return {"shape": asdict(layout.shape), "lanes": [list(p) for p in layout.lanes]}


def _layout_from(data: dict | None) -> render.Layout | None:
    if not data:
        return None
    return render.Layout(_shape_from(data["shape"]),  # type: ignore[arg-type]
                         tuple((name, lane) for name, lane in data["lanes"]))
