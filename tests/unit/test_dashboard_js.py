"""The dashboard's pure JavaScript (what the page says about a deployment), tested with
node's own test runner: tests/unit/dashboard/*.test.mjs. The page itself is tested in
a real browser by tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.mark.skipif(NODE is None and os.environ.get("CI") != "true",
                    reason="needs node (bash scripts/setup.sh installs it); never skipped under CI")
def test_the_dashboards_pure_functions():
    assert NODE, "node is not installed (scripts/setup.sh installs Debian's nodejs)"
    done = subprocess.run([NODE, "--test", *map(str, sorted((ROOT / "tests/unit/dashboard").glob("*.test.mjs")))],
                          env={**os.environ, "DASHBOARD_DIR": str(ROOT / "zerodown/api/dashboard")},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout, done.stdout
