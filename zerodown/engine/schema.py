"""The state store's schema: how its SQLite file is opened, and the migrations that shape it.

The queries are in store.py; a new column is a new entry in MIGRATIONS, never an
edit of an old one, so every file ever written migrates forward.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

from zerodown.engine.records import StoreError

# Each entry migrates from the schema version before it (PRAGMA user_version).
# Statements are separated by ";\n", so a trigger's body stays on one line. The 6th lets
# an instance be 'stopping' (a stop sent, its exit not yet confirmed: engine/stopping.py);
# SQLite changes a CHECK only by copying the table (columns in the same order). The 7th
# finds a service's deployments by index: its newest (status, history, the API; the
# rowid ends each entry, so `ORDER BY id DESC LIMIT n` reads n) and those to a revision
# (a rollback's "did it serve?"), where each read every deployment of every service. The
# 8th finds who asked for a deployment and why (its `action` events: history, the API's
# list) among those few, where each read every event of every deployment listed. The 9th
# keeps a routing table as its head and a row a backend (engine/routing_rows.py), so a
# route step writes the backends that changed, not the whole table twice. The 10th keeps
# each deployment's plan in `plans`, written when made and when replaced: in the
# deployment's row, SQLite wrote it again whenever the row's size changed (its cursor
# past 1 and 127, its phase, its request), ~1000 pages of a 200-instance rolling plan
# each time; and its length beside it, so a list (the API's, up to 1000) reads no plan.
# `deployments.plan` is left empty (SQLite drops a column only from 3.35). The 11th
# changes no table: from it a plan's Route may be stored as its change from the Route
# before it (plan_data.py), which a zerodown of the 10th would read as no step at all;
# the version tells it to refuse the file ("upgrade zerodown") instead. Plans stored whole
# before it read as they are.
MIGRATIONS = ("""
CREATE TABLE services (
  name TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  stable INTEGER,
  previous INTEGER,
  updated REAL NOT NULL);
CREATE TABLE revisions (
  service TEXT NOT NULL REFERENCES services (name),
  number INTEGER NOT NULL CHECK (number > 0),
  version TEXT NOT NULL,
  config TEXT NOT NULL,
  created REAL NOT NULL,
  PRIMARY KEY (service, number));
CREATE TRIGGER revisions_immutable BEFORE UPDATE ON revisions BEGIN SELECT RAISE(ABORT, 'revisions are immutable'); END;
CREATE TRIGGER revisions_kept BEFORE DELETE ON revisions BEGIN SELECT RAISE(ABORT, 'revisions are immutable'); END;
CREATE TABLE instances (
  service TEXT NOT NULL,
  revision INTEGER NOT NULL,
  slot INTEGER NOT NULL,
  host TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('starting', 'healthy', 'routed', 'draining', 'stopped', 'failed')),
  address TEXT,
  pid INTEGER,
  updated REAL NOT NULL,
  PRIMARY KEY (service, revision, slot),
  FOREIGN KEY (service, revision) REFERENCES revisions (service, number));
CREATE INDEX instances_by_state ON instances (service, state);
CREATE TABLE deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  service TEXT NOT NULL REFERENCES services (name),
  kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
  from_revision INTEGER,
  to_revision INTEGER NOT NULL,
  strategy TEXT NOT NULL,
  plan TEXT NOT NULL,
  plan_kind TEXT NOT NULL CHECK (plan_kind IN ('deploy', 'promote', 'rollback', 'abort')),
  plan_version INTEGER NOT NULL DEFAULT 1,
  cursor INTEGER NOT NULL DEFAULT 0,
  phase TEXT NOT NULL,
  on_failure TEXT NOT NULL CHECK (on_failure IN ('rollback', 'pause')),
  request TEXT,
  error TEXT,
  created REAL NOT NULL,
  updated REAL NOT NULL,
  FOREIGN KEY (service, to_revision) REFERENCES revisions (service, number));
CREATE UNIQUE INDEX one_active_deployment ON deployments (service) WHERE phase NOT IN ('succeeded', 'failed', 'rolled_back', 'aborted');
CREATE TABLE steps (
  deployment INTEGER NOT NULL REFERENCES deployments (id),
  idx INTEGER NOT NULL,
  step TEXT NOT NULL,
  started_at REAL NOT NULL,
  finished_at REAL,
  outcome TEXT,
  attempts INTEGER NOT NULL,
  PRIMARY KEY (deployment, idx));
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time REAL NOT NULL,
  service TEXT NOT NULL,
  deployment INTEGER REFERENCES deployments (id),
  kind TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT NOT NULL);
CREATE INDEX events_by_deployment ON events (deployment, id);
CREATE TRIGGER events_append_only BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_kept BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE routing (
  service TEXT PRIMARY KEY REFERENCES services (name),
  version INTEGER NOT NULL,
  applied TEXT NOT NULL,
  staged TEXT,
  staged_deployment INTEGER,
  staged_step INTEGER);
CREATE TRIGGER routing_versions_grow BEFORE UPDATE OF version ON routing WHEN NEW.version < OLD.version BEGIN SELECT RAISE(ABORT, 'routing table versions only grow'); END
""", """
ALTER TABLE routing ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER routing_versions_grow;
CREATE TRIGGER routing_versions_grow BEFORE UPDATE OF epoch, version ON routing WHEN NEW.epoch < OLD.epoch OR (NEW.epoch = OLD.epoch AND NEW.version < OLD.version) BEGIN SELECT RAISE(ABORT, 'routing table versions only grow (epoch first, then version)'); END
""", """
CREATE TABLE proofs (
  deployment INTEGER PRIMARY KEY REFERENCES deployments (id),
  router TEXT NOT NULL,
  started REAL NOT NULL,
  baseline TEXT NOT NULL,
  progress TEXT NOT NULL,
  proof TEXT)
""", """
ALTER TABLE instances ADD COLUMN runs_on TEXT
""", """
ALTER TABLE steps ADD COLUMN hosts TEXT
""", """
CREATE TABLE instances_6 (
  service TEXT NOT NULL,
  revision INTEGER NOT NULL,
  slot INTEGER NOT NULL,
  host TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('starting', 'healthy', 'routed', 'draining', 'stopping', 'stopped', 'failed')),
  address TEXT,
  pid INTEGER,
  updated REAL NOT NULL,
  runs_on TEXT,
  PRIMARY KEY (service, revision, slot),
  FOREIGN KEY (service, revision) REFERENCES revisions (service, number));
INSERT INTO instances_6 (service, revision, slot, host, state, address, pid, updated, runs_on) SELECT service, revision, slot, host, state, address, pid, updated, runs_on FROM instances;
DROP TABLE instances;
ALTER TABLE instances_6 RENAME TO instances;
CREATE INDEX instances_by_state ON instances (service, state)
""", """
CREATE INDEX deployments_by_service ON deployments (service);
CREATE INDEX deployments_by_revision ON deployments (service, to_revision)
""", """
CREATE INDEX events_asked ON events (deployment, id) WHERE kind = 'action'
""", """
CREATE TABLE routing_backends (
  service TEXT NOT NULL,
  tbl TEXT NOT NULL CHECK (tbl IN ('applied', 'staged')),
  id TEXT NOT NULL,
  revision TEXT NOT NULL,
  position INTEGER NOT NULL,
  address TEXT NOT NULL,
  weight INTEGER NOT NULL,
  PRIMARY KEY (service, tbl, id)) WITHOUT ROWID;
INSERT INTO routing_backends SELECT r.service, t.tbl, json_extract(b.value, '$.id'), json_extract(v.value, '$.name'), b.key * 1024, json_extract(b.value, '$.address'), COALESCE(json_extract(b.value, '$.weight'), 1) FROM routing r, (SELECT 'applied' AS tbl UNION ALL SELECT 'staged') t, json_each(CASE t.tbl WHEN 'applied' THEN r.applied ELSE r.staged END, '$.revisions') v, json_each(v.value, '$.backends') b;
UPDATE routing SET applied = json_set(applied, '$.revisions', json((SELECT json_group_array(json_set(value, '$.backends', json('[]'))) FROM json_each(routing.applied, '$.revisions'))));
UPDATE routing SET staged = json_set(staged, '$.revisions', json((SELECT json_group_array(json_set(value, '$.backends', json('[]'))) FROM json_each(routing.staged, '$.revisions')))) WHERE staged IS NOT NULL
""", """
CREATE TABLE plans (
  deployment INTEGER PRIMARY KEY REFERENCES deployments (id),
  version INTEGER NOT NULL,
  steps TEXT NOT NULL);
INSERT INTO plans (deployment, version, steps) SELECT id, plan_version, plan FROM deployments;
ALTER TABLE deployments ADD COLUMN plan_length INTEGER NOT NULL DEFAULT 0;
UPDATE deployments SET plan_length = json_array_length(plan), plan = ''
""", """
""")


class _Executes(Protocol):
    def execute(self, sql: str, params: Any = ...) -> sqlite3.Cursor: ...


def connect(path: str, timeout: float, synchronous: str) -> sqlite3.Connection:
    """The file opened in WAL mode, writers waiting up to `timeout` seconds for each other."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def migrate(tx: _Executes, path: str) -> None:
    """Bring the schema to the newest version, inside the caller's write transaction
    (read inside the lock: another process may have migrated meanwhile)."""
    have = tx.execute("PRAGMA user_version").fetchone()[0]
    if have > len(MIGRATIONS):
        raise StoreError(f"{path} has schema version {have}, newer than this "
                         f"zerodown knows ({len(MIGRATIONS)}); upgrade zerodown")
    for version, script in enumerate(MIGRATIONS[have:], have + 1):
        for statement in script.split(";\n"):
            if statement.strip():
                tx.execute(statement)
        tx.execute(f"PRAGMA user_version = {version}")
