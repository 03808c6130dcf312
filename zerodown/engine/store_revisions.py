"""The services' revisions in the state store: each service's stable and previous revision
and its numbered, immutable revisions (a version and its config). A part of
engine/store.Store (see its docstring)."""

from __future__ import annotations

import json

from zerodown.engine.records import NotFound, RevisionRecord
from zerodown.engine.store_parts import StoreParts


class RevisionQueries(StoreParts):
    """Store's revision queries (Store inherits them; they use its _one and db)."""

    def stable(self, service: str) -> tuple[int | None, int | None]:
        """(the revision serving after the last finished deployment, the one before it)."""
        row = self._one("SELECT stable, previous FROM services WHERE name = ?", (service,))
        return (row["stable"], row["previous"]) if row else (None, None)

    def rollback_versions(self, service: str) -> tuple[str, ...]:
        """The stable then the previous revision's versions (none before a first deployment):
        where an abort or a rollback goes, so their releases stay on every host."""
        return tuple(self.revision(service, n).version for n in self.stable(service)
                     if n is not None)

    def revision(self, service: str, number: int) -> RevisionRecord:
        row = self._one("SELECT * FROM revisions WHERE service = ? AND number = ?",
                        (service, number))
        if row is None:
            raise NotFound(f"service {service} has no revision r{number}")
        return RevisionRecord(service, number, row["version"], json.loads(row["config"]))

    def version(self, service: str, number: int) -> str | None:
        """Revision `number`'s version (None: no such revision), by the primary key, its
        config left unread: a label (controller.Labels) needs no more."""
        row = self._one("SELECT version FROM revisions WHERE service = ? AND number = ?",
                        (service, number))
        return row[0] if row else None

    def latest_revision(self, service: str) -> int:
        """The number of `service`'s newest revision, 0 when it has none: one indexed read,
        where revisions() reads and parses every revision's config (a check made on every
        deployment must not grow with the service's history)."""
        return self.db.execute("SELECT COALESCE(MAX(number), 0) FROM revisions WHERE "
                               "service = ?", (service,)).fetchone()[0]

    def served(self, service: str, revision: int | None = None) -> set[int]:
        """The revisions a finished deployment left serving (a deploy that succeeded, a
        rollback that ended rolled back), or of them just `revision`: by the index on
        (service, to_revision), one row read, where every deployment and its plan were
        read and parsed on each rollback."""
        where = ""
        params: tuple[str | int, ...] = (service,)
        if revision is not None:
            where, params = " AND to_revision = ?", (service, revision)
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT to_revision FROM deployments WHERE service = ?{where} AND "
            "(phase = 'succeeded' OR (phase = 'rolled_back' AND kind = 'rollback'))", params)}

    def revisions(self, service: str) -> list[RevisionRecord]:
        rows = self.db.execute("SELECT * FROM revisions WHERE service = ? ORDER BY number",
                               (service,))
        return [RevisionRecord(service, r["number"], r["version"], json.loads(r["config"]))
                for r in rows]
