"""A renewed certificate handed to the running load balancer between deployments.

    pairs = read_pairs(tls)                    # each cert/key read and checked (the edge)
    decision = decide(pairs, handed)           # pure: due?, what to record, what is refused
    outcome = refresh(router, tls, record)     # both, router.refresh_tls(), the record kept

certbot and acme.sh renew into the same files every ~60 days; nothing else tells the
load balancer. What it was last handed is recorded by content (a SHA-256 of each pair's
files, not their mtimes: a copy restored with its old mtime still counts as a change,
a `touch` does not) in HANDED, in the router's folder on this machine, written after
the router took them: a restarted controller neither sends them again for nothing nor
misses a renewal made while it was down. A pair that is unreadable, does not parse or
whose key is not its certificate's is never handed over (the certificates in force stay,
a load balancer given a broken pair may refuse to serve): `refused` says which file and
why, and the next look tries again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from zerodown.atomic_write import write_atomic
from zerodown.errors import UsageError
from zerodown.proxy.tls import CertFiles, server_context
from zerodown.tls_config import TlsSettings

HANDED = "tls-handed.json"  # {"CERT KEY": digest} last handed over, in the router's local dir


@dataclass(frozen=True)
class Pair:
    """One certificate and its key as read now: `digest` of their bytes, or `problem`."""
    where: str  # its key in zerodown.yaml: tls.cert, tls.certificates[0].cert
    cert: str
    key: str
    digest: str | None = None
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"{self.cert} {self.key}"


@dataclass(frozen=True)
class Decision:
    due: bool                   # hand the files over now
    record: dict[str, str]      # what the load balancer has once handed them (or still has)
    refused: tuple[str, ...]    # a line per pair not handed over: the file and why


def decide(pairs: tuple[Pair, ...] | list[Pair], handed: dict[str, str]) -> Decision:
    """Due when every pair is sound and their digests differ from what was `handed`. A
    broken pair holds back all of them: the embedded proxy and nginx load the set whole
    (the proxy would keep its old set, nginx refuse the configuration)."""
    refused = tuple(f"{p.where}: {p.problem}; the certificates in force stay" for p in pairs
                    if p.problem is not None)
    if refused:
        return Decision(False, dict(handed), refused)
    now = {p.name: p.digest or "" for p in pairs}
    return Decision(now != handed, now, ())


def read_pairs(tls: TlsSettings | None) -> tuple[Pair, ...]:
    """Every pair of `tls` (on this machine) read and checked as a TLS server would load it.
    Read before and after the check: a file changing meanwhile (being written) is a
    problem this time, so what was checked is what the digest says."""
    if tls is None:
        return ()
    named = [("tls.cert", tls.cert, tls.key)] + [
        (f"tls.certificates[{i}].cert", c.cert, c.key) for i, c in enumerate(tls.certificates)]
    return tuple(_read(where, cert, key) for where, cert, key in named)


def _read(where: str, cert: str, key: str) -> Pair:
    try:
        before = _digest(cert, key)
        server_context(CertFiles(cert, key))
        after = _digest(cert, key)
    except UsageError as e:
        return Pair(where, cert, key, problem=str(e).removeprefix("TLS: "))
    except OSError as e:
        return Pair(where, cert, key, problem=f"cannot read {e.filename}: {e.strerror or e}")
    if before != after:
        return Pair(where, cert, key, problem=f"{cert} or {key} changed while read (being "
                                              "written?); looked at again next time")
    return Pair(where, cert, key, digest=after)


def _digest(cert: str, key: str) -> str:
    h = hashlib.sha256()
    for path in (cert, key):
        h.update(Path(path).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def load_handed(path: str | os.PathLike) -> dict[str, str]:
    """The record, or {} (none yet, or unreadable: the next refresh hands over again, which
    changes nothing for a load balancer that has them)."""
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def save_handed(path: str | os.PathLike, record: dict[str, str]) -> None:
    write_atomic(str(path), json.dumps(record, indent=1, sort_keys=True) + "\n")


@dataclass(frozen=True)
class Outcome:
    handed: bool                # the running load balancer was told to take the files
    refused: tuple[str, ...]    # see Decision
    first: bool = False         # no record before (a first look): nothing known to be renewed


def refresh(router, tls: TlsSettings | None, record: str | os.PathLike | None = None,
            force: bool = False) -> Outcome:
    """Hand `router` the certificate files of `tls` if they changed since it was last
    handed them (`force`: even if not), then record them. `record`: the file (default
    HANDED in the router's local_dir). A router without refresh_tls (a fake, attach mode
    with no tls) is never due."""
    take = getattr(router, "refresh_tls", None)
    if tls is None or take is None:
        return Outcome(False, ())
    path = Path(record) if record is not None else Path(router.local_dir) / HANDED
    handed = load_handed(path)
    decision = decide(read_pairs(tls), {} if force else handed)
    if not decision.due:
        return Outcome(False, decision.refused)
    taken = bool(take())  # False: nothing runs; its start reads the files, as recorded
    save_handed(path, decision.record)
    return Outcome(taken, (), first=not handed)
