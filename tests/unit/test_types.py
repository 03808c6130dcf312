"""zerodown/ type-checks: mypy, with pyproject.toml's [tool.mypy] (its flags, the packages
without types), finds nothing. mypy comes with the accel extra, PyYAML's stubs with the
test one; scripts/setup.sh installs both, so a missing mypy fails here, never skips.

Its cache is mypy's own, .mypy_cache at the repository's root: a run after a change
rechecks what changed (~0.2 s warm), a fresh clone (CI) checks everything (~7 s cold)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_zerodown_type_checks():
    # the config's `files` says what is checked: no argument here to differ from it
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True, timeout=100)
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, f"mypy (pyproject.toml's [tool.mypy]) found:\n{said}"
    assert said.startswith("Success: no issues found"), said
