"""Every test file's name is unique across tests/: the folders are not packages, so pytest
imports each file by its base name, and a second file of the same name in another folder
fails the whole run's collection ("import file mismatch") — which a run of one folder,
as a change's own tests are run, never shows."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_no_two_test_files_share_a_name():
    where = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        where[path.name].append(str(path.relative_to(TESTS)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not twice, f"rename one of each: {twice}"
