"""A partial release folder left by a cut-off upload (zerodown/hosts/releases.py): the
next release_prepare on that host removes another version's once it is an hour old; the
version being prepared and a recent one (an upload that may still be on its way) stay."""

from __future__ import annotations

import os
import time

from zerodown.hosts.releases import STALE_PARTIAL, manifest_of, prepare, stale_partials

NOW = 1_000_000.0


def test_only_another_versions_partial_older_than_the_limit_is_stale():
    folders = {"v1.partial": NOW - STALE_PARTIAL - 1,   # another version's, old: goes
               "v2.partial": NOW - STALE_PARTIAL - 1,   # the one prepared now: its own
               "v3.partial": NOW - 60,                  # recent: may still be arriving
               "v0": NOW - 10 * STALE_PARTIAL,          # a release, not a partial
               "v4.partial": NOW - STALE_PARTIAL + 1}   # just under the limit
    assert stale_partials(folders, "v2", NOW) == ["v1.partial"]


def test_prepare_removes_a_stale_partial_and_keeps_a_recent_one(tmp_path):
    base, scratch = tmp_path / "shop", tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "app.py").write_text("print('v2')\n")
    old, recent = base / "v1.partial", base / "v3.partial"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "blob").write_bytes(b"x" * 1000)
    long_ago = time.time() - STALE_PARTIAL - 60
    os.utime(old, (long_ago, long_ago))
    got = prepare(str(base), "v2", manifest_of(str(scratch)))
    assert got == {"done": False, "missing": ["app.py"]}
    assert sorted(os.listdir(base)) == ["v2.partial", "v3.partial"]
