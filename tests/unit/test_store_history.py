"""A deployment's work in the state store does not grow with the service's history: every
past deployment leaves its rows (stopped instances, revisions, finished deployments), and
a query a deployment makes must find what it wants by an index, not read them all."""

from __future__ import annotations

import re

from zerodown.engine import schema
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store_deployments import ACTIVE_SQL
from zerodown.engine.store_instances import LIVE
from tests.support.engine_world import World, config


def _quoted(sql: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", sql))


def test_live_rows_are_every_state_the_schema_allows_but_stopped():
    checks = re.findall(r"CHECK \(state IN \(([^)]*)\)\)", schema_text())
    assert checks, "schema.py has no CHECK on instances.state"
    assert _quoted(LIVE) == _quoted(checks[-1]) - {"stopped"}  # the latest migration's


def test_the_active_deployment_query_is_the_partial_index_condition():
    index = re.search(r"CREATE UNIQUE INDEX one_active_deployment ON deployments \(service\) "
                      r"WHERE (.*?);\n", schema_text())
    assert index and index.group(1) == ACTIVE_SQL  # word for word, or SQLite cannot use it
    assert _quoted(ACTIVE_SQL) == {p.value for p in Phase if p.terminal}


def schema_text() -> str:
    return "\n".join(schema.MIGRATIONS)


class Recording:
    """A store's connection whose statements are recorded as asked, (sql, params): no
    sqlite trace or progress callback while the engine's threads share the connection
    (one can deadlock them: a thread in the callback waits for the interpreter's lock
    another holds while it waits for the connection)."""

    def __init__(self, db, seen: list):
        self._db, self._seen = db, seen

    def execute(self, sql, params=()):
        self._seen.append((sql, params))
        return self._db.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self._db, name)


def _statements_of_a_deployment(engine, version: str, *verbs: str) -> list[tuple]:
    """The statements a deploy and its run make that begin with `verbs`: (sql, params)."""
    seen: list[tuple] = []
    real = engine.store.db
    engine.store.db = Recording(real, seen)
    try:
        engine.run(engine.deploy(version))
    finally:
        engine.store.db = real
    return [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith(verbs)]


def _run(db, statement):
    """`statement`: SQL as SQLite ran it (its values bound: a trace), or (sql, params)."""
    sql, params = (statement, ()) if isinstance(statement, str) else statement
    return db.execute(sql, params)


def _vm_steps(engine, reads: list) -> int:
    """SQLite virtual-machine instructions `reads` execute on the store as it is now
    (deterministic, unlike their time), run here in this thread alone."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0
    db = engine.store.db
    db.set_progress_handler(count, 1)
    try:
        for statement in reads:
            _run(db, statement).fetchall()
    finally:
        db.set_progress_handler(None, 1)
    return steps[0]


def test_a_deployments_reads_do_not_grow_with_past_deployments(tmp_path):
    engine = World(tmp_path).engine(config(3))
    for n in range(3):
        engine.run(engine.deploy(f"v{n}"))
    reads = _statements_of_a_deployment(engine, "v3", "SELECT")
    # the same reads 60 deployments later (180 more stopped rows, 60 more revisions and
    # deployments): one that read them all would cost thousands of steps more each
    assert_no_growth(engine, reads, 60)


def assert_no_growth(engine, reads: list, more: int) -> None:
    """`reads` execute < 5% more SQLite instructions after `more` deployments."""
    early = _vm_steps(engine, reads)
    for n in range(more):
        engine.run(engine.deploy(f"w{n}"))
    late = _vm_steps(engine, reads)
    assert late < early * 1.05, (early, late)


def test_no_query_of_a_deployment_reads_a_whole_table(tmp_path):
    engine = World(tmp_path).engine(config(3))
    for n in range(3):
        engine.run(engine.deploy(f"v{n}"))
    assert_no_scans(engine, _statements_of_a_deployment(engine, "v3", "SELECT", "UPDATE",
                                                        "DELETE"))


def assert_no_scans(engine, statements: list) -> None:
    """No statement's EXPLAIN QUERY PLAN reads a whole table."""
    scans = {}
    by_text = {s if isinstance(s, str) else s[0]: s for s in statements}
    for sql, statement in by_text.items():
        params = () if isinstance(statement, str) else statement[1]
        plan = [row[3] for row in engine.store.db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        if any(step.startswith("SCAN") and "CONSTANT ROWS" not in step for step in plan):
            scans[sql[:120]] = plan
    assert not scans, f"queries that read a whole table (an index would find the rows): {scans}"
