"""Pruning a host's releases (zerodown/hosts/releases.py, run there by the agent): the
`keep_releases` newest stay, and never a version the host's registry says runs or one the
controller names (the rollback target), however old."""

from __future__ import annotations

import os
import subprocess
import time

from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.local import start_time
from zerodown.hosts.releases import commit, manifest_of, prepare, read_manifest


def release(base, version: str, mtime: float) -> None:
    folder = base / "scratch" / version
    folder.mkdir(parents=True)
    (folder / "app.py").write_text(f"print({version!r})\n")
    manifest = manifest_of(str(folder))
    got = prepare(str(base / "shop"), version, manifest)
    for path in got["missing"]:
        (base / "shop" / f"{version}.partial" / path).write_bytes((folder / path).read_bytes())
    commit(str(base / "shop"), version, manifest, keep=100)
    os.utime(base / "shop" / version / ".zerodown-release.json", (mtime, mtime))


def test_prune_keeps_the_newest_the_running_and_the_rollback_target(tmp_path):
    base, services = tmp_path / "releases", tmp_path / "services" / "shop"
    now = time.time()
    for age, version in enumerate(("v6", "v5", "v4", "v3", "v2", "v1")):
        release(base, version, now - 100 * (age + 1))
    gone = subprocess.Popen(["true"])
    gone.wait()
    table = InstanceTable(services)
    table.registry.save({
        "shop-r1-s0": {"service": "shop", "version": "v1", "pid": os.getpid(),
                       "start_time": start_time(os.getpid())},       # runs: stays
        "shop-r3-s1": {"service": "shop", "version": "v3", "pid": gone.pid,
                       "start_time": 1},                              # exited: may go
        "shop-r4-s2": {"service": "shop", "version": "v4", "pid": None},   # being started
        "cart-r2-s0": {"service": "cart", "version": "v5", "pid": os.getpid(),
                       "start_time": start_time(os.getpid())}})      # another service's
    folder = tmp_path / "scratch" / "v7"
    folder.mkdir(parents=True)
    (folder / "app.py").write_text("print('v7')\n")
    manifest = manifest_of(str(folder))
    prepare(str(base / "shop"), "v7", manifest)
    (base / "shop" / "v7.partial" / "app.py").write_text("print('v7')\n")
    removed = commit(str(base / "shop"), "v7", manifest, 2, ["v2"], str(services))["removed"]
    left = sorted(d.name for d in (base / "shop").iterdir())
    assert left == ["v1", "v2", "v4", "v6", "v7"], removed
    assert sorted(removed) == ["v3", "v5"]
    assert read_manifest(str(base / "shop" / "v1")) is not None
