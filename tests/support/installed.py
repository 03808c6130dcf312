"""Tests that need a program scripts/setup.sh installs (nginx, haproxy): skipped where it
is missing, but never under CI (CI=true), where it must be there and the test fails."""

from __future__ import annotations

import os
import shutil

import pytest


def needs(binary: str) -> pytest.MarkDecorator:
    """A mark skipping the test while `binary` is not on PATH, except under CI=true."""
    return pytest.mark.skipif(shutil.which(binary) is None and os.environ.get("CI") != "true",
                              reason=f"{binary} is not installed (bash scripts/setup.sh "
                                     f"installs it); never skipped under CI")
