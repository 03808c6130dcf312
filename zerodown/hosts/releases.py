"""Release folders on the machine this runs on (an SSH host, through the agent; stdlib only).

    got = prepare(base, "v7", manifest)   # {"done": True} | {"missing": [paths to send]}
    ... the missing files are unpacked into <base>/v7.partial ...
    commit(base, "v7", manifest, keep=5)  # checked, renamed to <base>/v7, old ones pruned

`manifest` maps each file's path in the release to [sha256, mode]. A release is
complete only once its manifest file is written and the folder renamed into place,
so a broken upload leaves a .partial folder, never a half release. A file whose
content an earlier release on this host has is copied from there instead of being
sent again. A version's content never changes: the same version with other content
is refused (deploy it as a new version). With `shared` (hosts/shared_paths.py), the
commit links the shared paths into the release before it is renamed into place; what an
upload has under those paths is neither sent nor checked (the links replace it), and
the manifest kept is the upload's, so the same version is still found complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Sequence

from zerodown.atomic_write import write_atomic
from zerodown.errors import RuntimeFailure
from zerodown.hosts import shared_paths
from zerodown.hosts.code_dirs import STALE_PARTIAL  # as old as an agent's unpacking left
from zerodown.hosts.instances import InstanceTable

MANIFEST = ".zerodown-release.json"


def read_manifest(folder: str) -> dict | None:
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def prepare(base: str, version: str, manifest: dict, shared: dict | None = None) -> dict:
    """{"done": complete here (with its links), "missing": the paths to send}. The shared
    files this host lacks are the pre-flight's to refuse (agent.py)."""
    final = os.path.join(base, version)
    there = read_manifest(final)
    if there == manifest:  # complete; the commit (re)makes links the config added since
        return {"done": shared_paths.linked(final, shared), "missing": []}
    if there is not None or os.path.exists(final):
        raise RuntimeFailure(f"release {version} in {final} has other content than this "
                             f"upload: a version is never changed; deploy it as a new version")
    partial = final + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    _remove_stale_partials(base, version)
    os.makedirs(partial)
    known = _known_files(base)
    missing = []
    for path, (sha, mode) in _kept(manifest, shared).items():
        target = os.path.join(partial, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        source = known.get(sha)
        if source is not None and os.path.isfile(source):
            shutil.copyfile(source, target)
            os.chmod(target, mode)
        else:
            missing.append(path)
    return {"done": False, "missing": missing}


def commit(base: str, version: str, manifest: dict, keep: int, keep_also: Sequence[str] = (),
           service_dir: str | None = None, shared: dict | None = None) -> dict:
    """Check the partial upload, link the shared paths into it, rename it into place (a
    release complete already: its links made, as a commit repeated), prune: never
    `version`, one in `keep_also` (the controller's rollback target) or one an instance
    of the service's registry under `service_dir` runs."""
    final = os.path.join(base, version)
    partial = final + ".partial"
    if read_manifest(final) == manifest:
        shared_paths.link(final, shared)
    else:
        for path, (sha, mode) in _kept(manifest, shared).items():
            target = os.path.join(partial, path)
            if _sha256(target) != sha:
                raise RuntimeFailure(f"release {version}: {path} arrived damaged or not at "
                                     f"all in {partial}")
            os.chmod(target, mode)
        shared_paths.link(partial, shared)
        write_atomic(os.path.join(partial, MANIFEST), json.dumps(manifest, sort_keys=True))
        os.rename(partial, final)
    return {"removed": prune(base, keep, keep_also={version, *keep_also,
                                                    *in_use(base, service_dir)})}


def in_use(base: str, service_dir: str | None) -> set[str]:
    """The versions the host's registry says run. No registry yet: none runs."""
    if service_dir is None or not os.path.isdir(service_dir):
        return set()
    service = os.path.basename(base.rstrip("/"))
    return InstanceTable(service_dir).versions(service)


def prune(base: str, keep: int, keep_also: set[str]) -> list[str]:
    """Remove all but the `keep` newest complete releases (never one in `keep_also`)."""
    releases = [d for d in os.listdir(base) if read_manifest(os.path.join(base, d)) is not None]
    releases.sort(key=lambda d: os.stat(os.path.join(base, d, MANIFEST)).st_mtime,
                  reverse=True)
    removed = []
    for old in releases[keep:]:
        if old not in keep_also:
            shutil.rmtree(os.path.join(base, old), ignore_errors=True)
            removed.append(old)
    return removed


def stale_partials(folders: dict[str, float], version: str, now: float) -> list[str]:
    """The names (of `folders`: name -> its time) of partial folders to remove: another
    version's, untouched for STALE_PARTIAL. An upload cut off (its outcome unknown, the
    host cut off) leaves one; it used to stay until that version was sent there again,
    taking room for good when that never came."""
    return sorted(n for n, t in folders.items() if n.endswith(".partial")
                  and n != f"{version}.partial" and now - t > STALE_PARTIAL)


def _remove_stale_partials(base: str, version: str) -> None:
    folders = {}
    try:
        for name in os.listdir(base):
            if name.endswith(".partial"):
                folders[name] = os.stat(os.path.join(base, name)).st_mtime
    except OSError:  # no releases yet, or one gone meanwhile: nothing to remove now
        return
    for name in stale_partials(folders, version, time.time()):
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _known_files(base: str) -> dict[str, str]:
    """sha256 -> a file with that content in a complete release under `base`."""
    known: dict[str, str] = {}
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return known
    for name in names:
        folder = os.path.join(base, name)
        linked = shared_paths.recorded(folder)  # a link's target is not the upload's file
        for path, (sha, _) in (read_manifest(folder) or {}).items():
            if not shared_paths.shadowed(path, linked):
                known.setdefault(sha, os.path.join(folder, path))
    return known


def _kept(manifest: dict, shared: dict | None) -> dict:
    """The manifest's files a release keeps: those under a shared path become its link."""
    linked = shared_paths.paths(shared)
    return {p: v for p, v in manifest.items() if not shared_paths.shadowed(p, linked)}


def _sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def manifest_of(folder: str) -> dict:
    """{path: [sha256, mode]} of every regular file under `folder` (symlinks followed)."""
    out = {}
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if rel == MANIFEST:
                continue
            out[rel] = [_sha256(path), os.stat(path).st_mode & 0o777]
    return out


# --- a release's before_start hook, once per host and version ---------------------

PREPARED = ".zerodown-prepared-"  # + the hook's key: the marker of a hook that passed here
OUTPUT_KEEP = 4096


def run_prepare_hook(folder: str, key: str, argv: list[str], cwd: str, env: dict[str, str],
                     timeout: float) -> dict:
    """Run a before_start hook in release `folder` unless its marker (key: a hash of the
    hook) says it passed here already; the marker is written only after it passes.
    {"ran": bool, "ok": bool, "code": int | None, "seconds": float, "output": its end}.
    A lock makes a second caller (a resumed controller) wait, then find the marker."""
    if read_manifest(folder) is None:
        raise RuntimeFailure(f"release {folder} is not on this host (upload it first)")
    marker = os.path.join(folder, PREPARED + key)
    with open(os.path.join(folder, ".zerodown-prepare.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker):
            return {"ran": False, "ok": True, "code": 0, "seconds": 0.0, "output": ""}
        started = time.monotonic()
        code, output = _run(argv, os.path.normpath(os.path.join(folder, cwd)),
                            {**os.environ, **env}, timeout)
        seconds = time.monotonic() - started
        if code == 0:
            write_atomic(marker, json.dumps({"argv": argv, "seconds": seconds}))
        return {"ran": True, "ok": code == 0, "code": code, "seconds": seconds,
                "output": output}


def _run(argv: list[str], cwd: str, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """(exit code, or None after the timeout killed its process group; the output's end)."""
    with tempfile.TemporaryFile() as out:  # a file: a lingering child cannot block us
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as e:
            return 127, f"could not start {argv[0]!r}: {e.strerror or e} (cwd {cwd})"
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc.pid, signal.SIGKILL)  # and whatever it left behind
            proc.wait()
            code = None
        out.seek(0, os.SEEK_END)
        out.seek(max(0, out.tell() - OUTPUT_KEEP))
        return code, out.read().decode("utf-8", "replace")


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
