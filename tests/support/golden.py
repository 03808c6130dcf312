"""Golden files: rendered text compared with a file kept in the repository.

ZERODOWN_UPDATE_GOLDEN=1 writes the files instead (review the diff, then commit).
"""

from __future__ import annotations

import os
from pathlib import Path


def assert_golden(path: Path, text: str) -> None:
    if os.environ.get("ZERODOWN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with ZERODOWN_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{path.name} differs (ZERODOWN_UPDATE_GOLDEN=1 to accept)"
