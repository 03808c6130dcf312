"""A deployment's zero-downtime proof in the state store (zerodown/proof.py): begun with
the load balancer's baseline, its progress, its end. A part of engine/store.Store."""

from __future__ import annotations

import json
from typing import Iterable

from zerodown.engine.store_parts import StoreParts



class ProofQueries(StoreParts):
    """Store's proof queries (Store inherits them; they use its _tx and db)."""

    def begin_proof(self, id: int, router: str, started: float, baseline: dict) -> dict:
        """The proof's first reading, kept if one was written before (a resumed deployment
        goes on from its first baseline): {"router", "started", "baseline", "progress"}.
        Not synced by itself: a reading, made durable by the deployment's next act."""
        with self._tx(durable=False) as tx:
            tx.execute("INSERT OR IGNORE INTO proofs (deployment, router, started, baseline,"
                       " progress) VALUES (?, ?, ?, ?, '{}')",
                       (id, router, started, json.dumps(baseline)))
        return self.proof_state(id)  # type: ignore[return-value]

    def proof_state(self, id: int) -> dict | None:
        row = self._one("SELECT * FROM proofs WHERE deployment = ?", (id,))
        if row is None:
            return None
        return {"router": row["router"], "started": row["started"],
                "baseline": json.loads(row["baseline"]), "progress": json.loads(row["progress"]),
                "proof": json.loads(row["proof"]) if row["proof"] else None}

    def proof_progress(self, id: int, progress: dict) -> None:
        with self._tx(durable=False) as tx:  # readings: synced with the next act's commit
            tx.execute("UPDATE proofs SET progress = ? WHERE deployment = ?",
                       (json.dumps(progress), id))

    def end_proof(self, id: int, proof: dict, message: str) -> None:
        """The proof, written with its event (deployment's service) in one transaction."""
        with self._tx() as tx:
            tx.execute("UPDATE proofs SET proof = ? WHERE deployment = ?", (json.dumps(proof), id))
            service = tx.execute("SELECT service FROM deployments WHERE id = ?",
                                 (id,)).fetchone()["service"]
            tx.event(service, "proof", message, id, proof=proof)

    def proofs(self, ids: Iterable[int]) -> dict[int, dict]:
        """The finished proofs of these deployments, by id (a deployment without one is absent)."""
        ids = list(ids)
        if not ids:
            return {}
        rows = self.db.execute(f"SELECT deployment, proof FROM proofs WHERE proof IS NOT NULL AND"
                               f" deployment IN ({','.join('?' * len(ids))})", ids)
        return {r["deployment"]: json.loads(r["proof"]) for r in rows}
