"""The dashboard's shipped files: within the page-weight budget, complete (every file
the page names is there and packaged), and nothing fetched from outside at run time."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "zerodown" / "api" / "dashboard"
BUDGET = 300 * 1024  # issue 13: the dashboard page ≤ 300 KB, everything it loads included

LOCAL_REF = re.compile(r"""(?:src|href)="([^"#:]+)"|from\s+"(\./[^"]+)"|import\s+"(\./[^"]+)\"""")
REMOTE = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(\s*['"]?(?:https?:)?//""", re.I)


def shipped() -> list[Path]:
    return sorted(p for p in DASHBOARD.rglob("*") if p.is_file())


def test_the_page_weighs_at_most_300_kb():
    total = sum(p.stat().st_size for p in shipped())
    assert 0 < total <= BUDGET, f"dashboard files weigh {total} bytes, budget {BUDGET}"


def test_every_file_the_page_names_is_shipped():
    named = set()
    for path in shipped():
        if path.suffix in (".html", ".js"):
            for groups in LOCAL_REF.findall(path.read_text()):
                ref = next(g for g in groups if g)
                named.add((path.parent / ref).resolve())
    assert {DASHBOARD / "app.js", DASHBOARD / "app.css"} <= named
    missing = sorted(str(p.relative_to(ROOT)) for p in named if not p.is_file())
    assert not missing, f"named by the page but not shipped: {missing}"
    unused = sorted(p.name for p in shipped() if p.name != "index.html" and p.resolve() not in named)
    assert not unused, f"shipped but never loaded: {unused}"


def test_nothing_loads_from_the_internet():
    for path in shipped():
        found = REMOTE.findall(path.read_text())
        assert not found, f"{path.relative_to(ROOT)} refers to a remote resource: {found}"


def test_the_package_data_includes_every_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["zerodown.api"]
    for path in shipped():
        rel = str(path.relative_to(DASHBOARD.parent))
        assert any(fnmatch(rel, pattern) for pattern in patterns), f"{rel} is not package data"
