"""Uploading a version's release folder to every host of an ssh runtime, before anything
changes (SshRuntime.check_release runs this before a deployment takes a revision number).

    upload(runtime, "v7", app)   # every host has <state_dir>/releases/<service>/v7, or RuntimeFailure

Per host, in parallel: the host compares the manifest (path -> sha256, mode) with what
it has (zerodown/hosts/releases.py), copies files an earlier release has, and names the
rest; only those are sent (a tar.gz on the channel's stdin), then checked and renamed
into place. A version already complete on a host costs one round trip.
"""

from __future__ import annotations

import base64
import io
import os
import shlex
import tarfile
from concurrent.futures import ThreadPoolExecutor

from zerodown.errors import RuntimeFailure
from zerodown.hosts.releases import manifest_of


def local_folder(runtime, version: str, app) -> str | None:
    if app.release is None:
        return None
    from zerodown.runtimes.release import resolve
    return resolve(runtime.config, app.release.format(version=version))


def remote_folder(runtime, version: str) -> str:
    return f"{runtime.release_base}/{version}"


def upload(runtime, version: str, app, keep: frozenset[str] = frozenset()) -> None:
    """Every host has release `version`, or RuntimeFailure naming the hosts that do not;
    pruning there keeps the versions in `keep` (the rollback target) and those running."""
    folder = local_folder(runtime, version, app)
    if folder is None:
        return
    if not os.path.isdir(folder):
        raise RuntimeFailure(f"version {version}: release folder {folder} does not exist "
                             f"(app.release {app.release!r})")
    manifest = manifest_of(folder)

    def one(host_name: str) -> str | None:
        try:
            _upload_to(runtime, host_name, folder, version, manifest, keep)
            return None
        except RuntimeFailure as e:
            return str(e)
    with ThreadPoolExecutor(max_workers=min(32, len(runtime.names))) as pool:
        failed = [(n, why) for n, why in zip(runtime.names, pool.map(one, runtime.names)) if why]
    if failed:
        raise RuntimeFailure(f"release {version} could not be uploaded, nothing was changed:\n"
                             + "\n".join(f"  {n}: {why}" for n, why in failed))


def _upload_to(runtime, host_name: str, folder: str, version: str, manifest: dict,
               keep: frozenset[str]) -> None:
    host = runtime.hosts[host_name]
    base = runtime.release_base
    got = host.call("release_prepare", base, version, manifest)
    if got["done"]:
        return
    if got["missing"]:
        data = _tar(folder, got["missing"])
        partial = shlex.quote(f"{base}/{version}.partial")
        done = runtime.connections.run(host_name, f"base64 -d | tar -xz -C {partial}",
                                       input=base64.b64encode(data).decode(),
                                       timeout=runtime.options.command_timeout)
        if not done.ok:
            raise RuntimeFailure(f"sending {len(got['missing'])} files of release {version} "
                                 f"failed: {done.stderr.strip()[-300:] or done.status}")
    host.call("release_commit", base, version, manifest, runtime.options.keep_releases,
              sorted(keep), runtime.remote_dir)


def _tar(folder: str, paths: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in paths:
            tar.add(os.path.join(folder, path), arcname=path, recursive=False)
    return buf.getvalue()
