"""zerodown's own code folders on a host: installed once per content, the old ones pruned.

    install_script(root, python_check=True)   # the shell line that puts a tar.gz (stdin,
                                              # base64) at root, safe against a concurrent one
    python3 -m zerodown.hosts.code_dirs <parent> <keep>   # on the host: prune <parent>

`<state_dir>/agent/<hash>` (the agent) and `<state_dir>/zerodown/<hash>` (the embedded
proxy's code) get a folder per content. Two installs of one content may run at once (two
threads, or two controllers: `zerodown status` beside a deployment): each unpacks into a
folder of its own and renames it into place; the loser finds the winner's folder, which
has the same content, and removes its own. A folder in place is never removed or replaced
while it may be in use.

Pruning keeps the `keep` newest folders (by when they were installed) and, whatever their
age, every folder a running process uses: its working directory (an agent), its
PYTHONPATH or its command line (a proxy). Runs on the host with python3's standard
library only.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import time

KEEP = 3                  # the current folder and the two before it
STALE_PARTIAL = 3600.0    # an unpacking folder older than this was left by a crash
_NAME = re.compile(r"^[0-9a-f]{16}$")
_PARTIAL = re.compile(r"^[0-9a-f]{16}\.new(\..+)?$")


def install_script(root: str, python_check: bool = False) -> str:
    """A shell line unpacking stdin (base64 of a tar.gz) into `root`, then pruning its
    siblings. Idempotent and safe when run twice at once: a rename into place, never an
    `rm` of a folder in place."""
    q = shlex.quote(root)
    parent = shlex.quote(os.path.dirname(root.rstrip("/")))
    check = ("command -v python3 >/dev/null || { echo 'python3 is not installed' >&2; "
             "exit 3; }; " if python_check else "")
    return (f"set -e; {check}mkdir -p {parent}; tmp=$(mktemp -d {q}.new.XXXXXX); "
            f"base64 -d | tar -xz -C \"$tmp\"; chmod 755 \"$tmp\"; touch \"$tmp/ok\"; "
            # rename() replaces an empty folder only: a complete one in place stays
            f"if ! mv -T \"$tmp\" {q} 2>/dev/null; then "
            f"  if test -e {q}/ok; then rm -rf \"$tmp\"; "  # another install won: same content
            f"  else old=$(mktemp -d {q}.new.XXXXXX); mv -T {q} \"$old/x\"; "
            f"    mv -T \"$tmp\" {q}; rm -rf \"$old\"; fi; "  # a broken folder, never used
            f"fi; "
            f"cd {q} && python3 -m zerodown.hosts.code_dirs {parent} {KEEP} "
            f"|| echo 'zerodown: pruning old code folders failed' >&2")


def in_use(proc: str = "/proc") -> set[str]:
    """Every path a running process may run code from: its working directory, its
    PYTHONPATH entries, its command line's arguments (what may be readable of them)."""
    paths: set[str] = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        base = f"{proc}/{pid}"
        try:
            paths.add(os.readlink(f"{base}/cwd"))
        except OSError:
            pass
        paths.update(f for f in _fields(f"{base}/cmdline") if f.startswith("/"))
        for field in _fields(f"{base}/environ"):
            if field.startswith("PYTHONPATH="):
                paths.update(field[len("PYTHONPATH="):].split(os.pathsep))
    return paths


def _fields(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []  # gone meanwhile, or another user's


def _used(folder: str, paths: set[str]) -> bool:
    return any(p == folder or p.startswith(folder + "/") for p in paths)


def to_prune(folders: dict[str, float], keep: int, used: set[str], parent: str
             ) -> list[str]:
    """The folder names (of `folders`: name -> install time) to remove: all but the
    `keep` newest, never one a running process uses."""
    newest = sorted(folders, key=lambda n: (folders[n], n), reverse=True)
    return [n for n in newest[keep:] if not _used(os.path.join(parent, n), used)]


def prune(parent: str, keep: int = KEEP, now: float | None = None) -> list[str]:
    """Remove `parent`'s old code folders (and unpackings a crash left); the names gone."""
    now = time.time() if now is None else now
    folders: dict[str, float] = {}
    gone = []
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        if _NAME.match(name):
            try:
                folders[name] = os.stat(os.path.join(path, "ok")).st_mtime
            except OSError:
                continue  # incomplete: an install replaces it
        elif _PARTIAL.match(name):
            try:
                if now - os.stat(path).st_mtime > STALE_PARTIAL:
                    shutil.rmtree(path, ignore_errors=True)
                    gone.append(name)
            except OSError:
                pass
    for name in to_prune(folders, keep, in_use(), parent):
        # renamed away first: a process starting in it right now fails to start rather
        # than runs from a half-removed folder
        aside = os.path.join(parent, f"{name}.new.gone{os.getpid()}")
        try:
            os.rename(os.path.join(parent, name), aside)
        except OSError:
            continue
        shutil.rmtree(aside, ignore_errors=True)
        gone.append(name)
    return gone


if __name__ == "__main__":
    prune(sys.argv[1], int(sys.argv[2]))
