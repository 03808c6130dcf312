"""Every Python file the README, docs/ and benchmarks/README.md name exists: a module split
or renamed (store.py's parts, listen_wait.py out of instances.py) cannot leave a page
pointing at a file that is not there. A path (`hosts/stop_once.py`) must end a real
file's path, a bare name (`wal_sync.py`) must be some file's name. benchmarks/README.md
is also a history: the files it measured and that were removed since stay named there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "benchmarks" / "README.md"]
# the user's own files the pages show as examples, not zerodown's
THEIRS = {"manage.py"}
# removed since benchmarks/README.md measured them: named by its history only
REMOVED = {"hosts/stamper_forker.py"}  # session 24: its gain within the scatter
HISTORY = "benchmarks/README.md"
NAMED = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.py)\b")


def repository_files() -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py")
            if not {".venv", ".git", "build"} & set(p.relative_to(ROOT).parts)]


def named_files() -> list[tuple[str, str]]:
    """(page:line, the path as named) of every *.py a page names."""
    return [(f"{page.relative_to(ROOT)}:{number}", name)
            for page in PAGES
            for number, line in enumerate(page.read_text().splitlines(), 1)
            for name in NAMED.findall(line) if name not in THEIRS]


def test_every_file_named_exists():
    files = repository_files()
    names = {f.rsplit("/", 1)[-1] for f in files}
    named = named_files()
    assert len(named) > 300, len(named)  # the pages name hundreds: the pattern still finds them
    def there(name: str) -> bool:
        return (any(f == name or f.endswith("/" + name) for f in files)
                if "/" in name else name in names)
    missing = [f"{where}: {name}" for where, name in named if not there(name)
               and not (where.startswith(HISTORY + ":") and name in REMOVED)]
    assert not missing, "named but not there:\n" + "\n".join(missing)
