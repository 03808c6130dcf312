"""README's Layout is the module map: every module of the package is named there, every
file it names exists, and the proxy's hot path it lists is the one accel.py compiles."""

from __future__ import annotations

import re
from pathlib import Path

from zerodown.proxy.accel import HOT_MODULES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
LAYOUT = README.split("## Layout", 1)[1].split("```", 2)[1]
NAMED = set(re.findall(r"[\w/]*?(\w+\.py)\b", LAYOUT))


def test_every_module_is_named_in_the_layout():
    modules = {p.name for p in (ROOT / "zerodown").rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    assert not sorted(modules - NAMED), f"README's Layout does not name {sorted(modules - NAMED)}"


def test_every_file_the_layout_names_exists():
    files = {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts}
    assert not sorted(NAMED - files), f"README's Layout names what is not there: {NAMED - files}"


def test_the_hot_path_listed_is_the_compiled_one():
    hot = LAYOUT.split("Its hot path", 1)[1].split("Around it", 1)[0]
    assert set(re.findall(r"\w+\.py", hot)) - {"accel.py"} == set(HOT_MODULES)
