"""The compiled hot path: used when fresh, never when stale, same behaviour either way."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from zerodown.loadgen import run_load_sync
from zerodown.proxy import accel
from tests.support.proxy import ProxyProcess, table_of


def hot_path(proxy: ProxyProcess) -> str:
    return re.search(r"hot-path=(\w+)", proxy.proc.log()).group(1)


@pytest.mark.parametrize("pure", [False, True])
def test_both_hot_paths_serve_the_same(tmp_path, app_factory, pure):
    if not pure and not accel.compiled() and not os.environ.get("CI"):
        pytest.skip("no compiled build here: run `zerodown accel build`")  # never under CI
    a, b = app_factory("v1"), app_factory("v2")
    p = ProxyProcess(tmp_path, env={"ZERODOWN_PURE_PYTHON": "1"} if pure else {})
    try:
        p.start()
        assert hot_path(p) == ("python" if pure else "compiled")
        p.apply(table_of(1, ("v1", 50, [a]), ("v2", 50, [b])))
        result = run_load_sync(p.url + "/", connections=4, requests=2000)
        assert result.failed() == 0
        assert abs(result.by_header["X-Version"]["v1"] - 1000) < 150
    finally:
        p.cleanup()


def test_a_stale_build_is_never_used(tmp_path, monkeypatch):
    fresh = accel.build_dir()
    if not (fresh / "zerodown" / "proxy" / ".complete").exists() and not os.environ.get("CI"):
        pytest.skip("no compiled build to copy: run `zerodown accel build`")  # never under CI
    monkeypatch.setenv("ZERODOWN_ACCEL_DIR", str(tmp_path))
    stale = tmp_path / "0123456789abcdef"  # a build of some other source
    shutil.copytree(fresh, stale)
    path: list[str] = []
    assert accel.activate(path) is False and path == []
    shutil.copytree(fresh, tmp_path / accel.source_hash())  # the build of this source
    assert accel.activate(path) is True and path[0].startswith(str(tmp_path))
    monkeypatch.setenv("ZERODOWN_PURE_PYTHON", "1")
    assert accel.activate([]) is False


def test_a_new_build_removes_the_builds_of_other_sources(tmp_path):
    keep, old, other = tmp_path / accel.source_hash(), tmp_path / "0123456789abcdef", tmp_path / "notes"
    for d in (keep, old, other):
        (d / "zerodown" / "proxy").mkdir(parents=True)
    assert accel.prune(keep) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([keep.name, "notes"])
