"""Every ZERODOWN_* environment variable zerodown (or a script of scripts/) reads or sets is
named in the README or docs/, and every one they name is still one: a variable added
(ZERODOWN_PURE_PYTHON, ZERODOWN_ACCEL_DIR were named nowhere) or renamed cannot go
unsaid, nor stay said."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NAME = re.compile(r"\bZERODOWN_[A-Z0-9_]*[A-Z0-9]\b")


def in_code() -> set[str]:
    files = [*(ROOT / "zerodown").rglob("*.py"), *(ROOT / "scripts").glob("*")]
    return {name for f in files if f.is_file() for name in NAME.findall(f.read_text())}


def in_pages() -> set[str]:
    return {name for page in PAGES for name in NAME.findall(page.read_text())}


def test_every_variable_of_the_code_is_named_in_the_docs():
    code = in_code()
    assert {"ZERODOWN_TOKEN", "ZERODOWN_URL", "ZERODOWN_SHARED_DIR"} <= code  # the scan sees them
    assert not code - in_pages(), f"named in no page: {sorted(code - in_pages())}"


def test_every_variable_the_docs_name_is_the_codes():
    assert not in_pages() - in_code(), f"no code has: {sorted(in_pages() - in_code())}"
