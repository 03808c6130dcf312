"""A service's shared folders and files on a host (app.shared_dirs, app.shared_files),
kept across its releases in <state_dir>/shared/<service>/<path> and linked into each
release folder when it is committed (zerodown/hosts/releases.py): what v1's instances
wrote to `uploads/` is there for v2's, and a host-only `config/database.yml` is read by
every version. Capistrano's linked_dirs / linked_files. Stdlib only: the agent runs it.

    shared = {"root": "/srv/zerodown/shared/shop", "dirs": ["uploads"],
              "files": ["config/database.yml"]}
    missing(shared)              # ["config/database.yml"]: the deployment is refused
    link(release, shared)        # uploads/ made in root; each path in `release` a link

A release records the paths it linked (LINKS), so the files an upload put there, which
the links replaced, are never taken as copies for a later release (releases.prepare).
"""

from __future__ import annotations

import json
import os
import shutil

from zerodown.atomic_write import write_atomic

LINKS = ".zerodown-shared.json"


def spec(state_dir: str, service: str, app) -> dict | None:
    """What the host functions take of app.shared_dirs / shared_files (None: neither)."""
    if not (app.shared_dirs or app.shared_files):
        return None
    return {"root": f"{state_dir.rstrip('/')}/shared/{service}",
            "dirs": list(app.shared_dirs), "files": list(app.shared_files)}


def paths(shared: dict | None) -> list[str]:
    return [*shared["dirs"], *shared["files"]] if shared else []


def link_plan(release: str, shared: dict) -> list[tuple[str, str]]:
    """(the link in `release`, the shared path it points at) for each shared path (pure)."""
    return [(os.path.join(release, p), os.path.join(shared["root"], p)) for p in paths(shared)]


def shadowed(path: str, linked: list[str]) -> bool:
    """Whether a release's file `path` lies at or under one of the `linked` paths (pure)."""
    return any(path == p or path.startswith(p + "/") for p in linked)


def missing(shared: dict | None) -> list[str]:
    """The shared files that are not on this host (each must be put there by hand)."""
    if not shared:
        return []
    return [p for p in shared["files"] if not os.path.isfile(os.path.join(shared["root"], p))]


def linked(release: str, shared: dict | None) -> bool:
    """Whether every link of `shared` is in place in `release` (nothing changed to know)."""
    return not shared or all(_points_at(where, target)
                             for where, target in link_plan(release, shared))


def recorded(release: str) -> list[str]:
    """The paths `release` has linked (none before this existed, or none configured)."""
    try:
        with open(os.path.join(release, LINKS), encoding="utf-8") as f:
            return list(json.load(f))
    except (OSError, ValueError):
        return []


def link(release: str, shared: dict | None) -> None:
    """The shared folders made (0755) and every shared path of `release` a link to its
    shared one, whatever the upload put there; a shared folder not made yet is `release`'s
    own folder there, if it has one, moved. Idempotent, and safe to repeat after an
    interruption: a link is made beside its place and renamed over it."""
    if not shared:
        return
    for d in shared["dirs"]:
        target, here = os.path.join(shared["root"], d), os.path.join(release, d)
        if not os.path.lexists(target) and os.path.isdir(here) and not os.path.islink(here):
            # the first release to share it has a folder there: a version in place (its
            # instances may run) deployed again with shared_dirs added; what they wrote
            # there becomes the shared folder, not deleted with the folder the link replaces
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(here, target)
        os.makedirs(target, mode=0o755, exist_ok=True)
    for where, target in link_plan(release, shared):
        if _points_at(where, target):
            continue
        _remove(where)
        os.makedirs(os.path.dirname(where), exist_ok=True)
        beside = where + ".zerodown-link"
        _remove(beside)
        os.symlink(target, beside)
        os.replace(beside, where)
    write_atomic(os.path.join(release, LINKS), json.dumps(paths(shared)))


def _points_at(where: str, target: str) -> bool:
    try:
        return os.readlink(where) == target
    except OSError:
        return False


def _remove(path: str) -> None:
    """Whatever is at `path` gone: a link itself (never what it points at), a file, a tree."""
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
