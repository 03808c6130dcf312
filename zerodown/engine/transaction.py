"""One open write transaction of the state store (engine/store.Store._tx makes them):
its statements, and the events it writes, sent to the store's listeners after commit."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Sequence

from zerodown.engine.records import Event


class Tx:
    """One open write transaction: statements, plus events sent to listeners after commit."""

    def __init__(self, db: sqlite3.Connection, now: float):
        self.db, self.now = db, now
        self.events: list[Event] = []

    def execute(self, sql: str, params: Sequence | dict = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def event(self, service: str, kind: str, message: str, deployment: int | None = None, /,
              **data: Any) -> None:
        cur = self.db.execute("INSERT INTO events (time, service, deployment, kind, message, data)"
                              " VALUES (?, ?, ?, ?, ?, ?)",
                              (self.now, service, deployment, kind, message, json.dumps(data)))
        assert cur.lastrowid is not None  # an INSERT's (typeshed allows None)
        self.events.append(Event(cur.lastrowid, self.now, service, deployment, kind, message, data))
