"""The agent's bundle (zerodown/hosts/ssh.py `_FILES`, what a fleet host gets) holds every
zerodown module its files import, at the top or inside a function, string-embedded code
such as the log stamper's included: a module left out fails on the hosts alone (their
agent cannot import it), never on this machine, where the whole package is there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from zerodown.hosts import ssh

ROOT = Path(ssh.__file__).resolve().parent.parent.parent


def _imported(source: str) -> set[str]:
    """zerodown modules `source` imports, in its code and in code kept in its strings."""
    found: set[str] = set()
    trees = [ast.parse(source)]
    for node in ast.walk(trees[0]):  # code run from a string (exec, python3 -c)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.search(r"^\s*(from|import) zerodown", node.value, re.M):
            trees.append(ast.parse(node.value))
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module \
                    and node.module.startswith("zerodown"):
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("zerodown")}
    return found


def test_the_agents_bundle_holds_every_zerodown_module_its_files_import():
    bundled = {name for name in ssh._FILES}
    missing = {}
    for name, source in ssh._FILES.items():
        if source is None:
            continue
        for module in _imported((ROOT / name).read_text()):
            path = module.replace(".", "/")
            if (ROOT / f"{path}.py").exists() and f"{path}.py" not in bundled:
                missing.setdefault(f"{path}.py", []).append(name)
    assert not missing, f"imported by the agent's files, not in its bundle: {missing}"
