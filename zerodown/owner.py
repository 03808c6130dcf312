"""This controller's identity, and what it says of a service's owner on a fleet host
(zerodown/hosts/owner.py keeps the record there).

    me = identity(Path(".zerodown"))    # Identity("3f0c...", "ana@laptop:/home/ana/shop/.zerodown")
    refusal(them, "shop")               # the pre-flight's problem on a host owned by another

A controller is its state folder (its store): the id is made there once, at random, and
kept, so a folder moved is the same controller (its record on the hosts follows at its
next deployment) and a folder copied is too: two copies deploying apart would not be
told apart, as their stores would not. `where` (user@machine:folder) is worked out at
each use, for messages only: who to ask before taking a service over.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from zerodown.errors import OwnerUnreadable, RuntimeFailure
from zerodown.hosts.owner import TAKE_OVER, unreadable

ID_FILE = "controller.json"  # in the state folder, beside zerodown.db


@dataclass(frozen=True)
class Identity:
    id: str
    where: str

    def record(self) -> dict:
        return {"id": self.id, "where": self.where}


def identity(state_dir: Path, make: bool = True) -> Identity:
    """This controller's: its id from the state folder, made there on first use (or, with
    `make` False, an empty id, which no record matches: a look that writes nothing).
    Made at once by several threads or processes (a daemon's pre-flight asks every host
    at once), one id wins and each reads it back: two would each claim a host."""
    path = Path(state_dir) / ID_FILE
    ident = _read_id(path)
    if ident is None and make:
        path.parent.mkdir(parents=True, exist_ok=True)
        _make_id(path)
        ident = _read_id(path)
    return Identity(ident or "", _where(state_dir))


def _read_id(path: Path) -> str | None:
    """The id in `path`, None when there is no file; RuntimeFailure when it is damaged."""
    try:
        doc = json.loads(path.read_text())
        ident = doc["id"] if isinstance(doc, dict) else None
    except FileNotFoundError:
        ident = None
        doc = None
    except (OSError, ValueError, KeyError) as e:
        raise RuntimeFailure(f"{path}: cannot read this controller's id ({e}); remove the "
                             f"file to make a new one (then `{TAKE_OVER}` for the services "
                             f"it deployed on a fleet)") from None
    if doc is not None and (not isinstance(ident, str) or not ident):
        raise RuntimeFailure(f"{path}: no id in it; remove the file to make a new one")
    return ident


def _make_id(path: Path) -> None:
    """A new id written whole beside `path` and linked there only if nobody made one
    first (a link fails where the name exists: the first one stays)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps({"id": uuid.uuid4().hex, "made": time.time()}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
    finally:
        os.unlink(tmp)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the name durable: a crash must not give this controller a new id
    finally:
        os.close(folder)


def _where(state_dir: Path) -> str:
    return f"{_user()}@{socket.gethostname()}:{os.path.abspath(state_dir)}"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return str(os.getuid())


def describe(owner: dict) -> str:
    """`ana@laptop:/home/ana/shop/.zerodown (controller 3f0c1a2b, since 2026-12-04 20:41 UTC)`."""
    since = owner.get("since")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since)) \
        if isinstance(since, (int, float)) else "an unknown time"
    return f"{owner.get('where') or 'an unnamed controller'} (controller " \
           f"{str(owner.get('id'))[:8]}, since {when})"


def refusal(owner: dict, service: str) -> str:
    """A host's pre-flight problem: `service` there is another controller's."""
    return (f"{service} here is deployed by another controller: {describe(owner)}; deploy "
            f"from there, or `{TAKE_OVER}` from here once that one is done with it")


def refuse_others(service: str, answers: dict) -> None:
    """RuntimeFailure naming each host of `answers` (host -> the host owner op's answer,
    None when not asked, or the OwnerUnreadable it raised) whose service another controller
    owns or whose owner record cannot be read; nothing was changed."""
    said = {h: a.said if isinstance(a, OwnerUnreadable) else refusal(a["other"], service)
            for h, a in answers.items()
            if isinstance(a, OwnerUnreadable) or a and a.get("other")}
    if said:
        raise RuntimeFailure("refused, nothing was changed:\n" + "\n".join(
            f"  {host}: {why}" for host, why in said.items()))


def judged(report, me: Identity, service: str):
    """A pre-flight report (hosts/preflight.py HostReport) with the service's owner read
    there judged (pure): another controller's, or one the shell found unreadable
    (parse_owner), is the host's problem."""
    owner = report.owner
    if report.ready and owner is not None and owner.get("id") != me.id:
        return replace(report, problem=owner.get("unreadable") or refusal(owner, service))
    return report


def unrecorded(report, me: Identity) -> bool:
    """Must this controller be recorded there (pure)? Nobody is yet, or it is, from a
    folder since moved; not where the owner was not read (a host not listed)."""
    owner = report.owner
    return report.owner_read and (owner is None or owner.get("id") == me.id
                                  and owner.get("where") != me.where)


def parse_owner(text: str, path: str) -> dict | None:
    """The owner file's content as a shell read it from `path` (pure): None when empty
    (nobody); a record naming itself unreadable (its file, what it holds) when it is not one."""
    if not text.strip():
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        held = f"it holds {text.strip()[:60]!r}"
        return {"id": "?", "where": f"an unreadable owner record ({path}: {held})",
                "unreadable": unreadable(path, held)}
    return doc


def owner_cell(owner: dict | None, me: Identity | None) -> str:
    """`zerodown hosts`' OWNER column (pure)."""
    if owner is None:
        return "none"
    if me is not None and owner.get("id") == me.id:
        return "this controller"
    return describe(owner)
