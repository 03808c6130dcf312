"""The proxy's hot path, compiled to C with mypyc when it can be.

The hot modules are plain, fully typed Python. `scripts/setup.sh` runs
`zerodown accel build`, which compiles them with mypyc into
`<venv>/zerodown-accel/<hash of their source>/`; importing `zerodown.proxy`
puts that folder first on the package path when (and only when) the hash
matches the source in front of it — an edited module is never shadowed by a
stale build, it just runs as Python until the next build. Set
ZERODOWN_PURE_PYTHON=1 to run the plain modules anyway.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

from zerodown.errors import UsageError

HOT_MODULES = ("metrics.py", "headscan.py", "routing.py", "upstream.py", "retries.py",
               "clientstate.py", "exchange.py", "server.py", "tap.py", "tls_transport.py")
HERE = Path(__file__).resolve().parent


def source_hash() -> str:
    h = hashlib.sha256(sys.version.encode())
    for name in HOT_MODULES:
        h.update(name.encode() + (HERE / name).read_bytes())
    return h.hexdigest()[:16]


def build_dir() -> Path:
    base = os.environ.get("ZERODOWN_ACCEL_DIR") or os.path.join(sys.prefix, "zerodown-accel")
    return Path(base) / source_hash()


def activate(package_path: list[str]) -> bool:
    """Put a fresh compiled build first on the package path; False if there is none."""
    if os.environ.get("ZERODOWN_PURE_PYTHON"):
        return False
    try:
        built = build_dir()
    except OSError:
        return False
    if not (built / "zerodown" / "proxy" / ".complete").exists():
        return False
    if str(built) not in sys.path:
        sys.path.insert(0, str(built))  # mypyc's shared runtime module lives at its top
    package_path.insert(0, str(built / "zerodown" / "proxy"))
    return True


def compiled() -> bool:
    """Is the running hot path the compiled one?"""
    from zerodown.proxy import server
    return not server.__file__.endswith(".py")


def build() -> Path:
    """Compile the hot modules (about 20 s) unless this source was built already."""
    # imported here, not with the module: every import of zerodown.proxy imports this one
    # (activate), a config's load too (its tls and path prefix), which builds nothing
    import importlib.util
    import shutil
    import subprocess
    import tempfile
    target = build_dir()
    if (target / "zerodown" / "proxy" / ".complete").exists():
        return target
    try:  # before the compile: a folder it cannot write is said in a moment, not after 20 s
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot make the build folder {target.parent} "
                         f"({e.strerror or e}): set ZERODOWN_ACCEL_DIR to a folder this user "
                         f"can write (by default <venv>/zerodown-accel)") from None
    if importlib.util.find_spec("mypyc") is None:  # fail early and clearly
        raise SystemExit("zerodown accel: mypy is not installed (pip install mypy)")
    with tempfile.TemporaryDirectory(prefix="zerodown-accel-") as tmp:
        work = Path(tmp)
        shutil.copytree(HERE.parent, work / "zerodown",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        files = [f"zerodown/proxy/{m}" for m in HOT_MODULES]
        env = dict(os.environ, PYTHONPATH=str(work))
        done = subprocess.run([sys.executable, "-m", "mypyc", *files], cwd=work, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"zerodown accel: mypyc failed:\n{done.stdout}\n{done.stderr}")
        staged = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        (staged / "zerodown" / "proxy").mkdir(parents=True)
        for so in work.glob("*.so"):
            shutil.copy2(so, staged)
        for so in (work / "zerodown" / "proxy").glob("*.so"):
            shutil.copy2(so, staged / "zerodown" / "proxy")
        (staged / "zerodown" / "proxy" / ".complete").touch()
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    prune(keep=target)
    return target


def prune(keep: Path) -> list[Path]:
    """Remove the builds of other sources beside `keep`, which nothing will use
    again (a proxy running one keeps its loaded copy); the removed, sorted."""
    import shutil
    gone = sorted(p for p in keep.parent.iterdir()
                  if p != keep and p.is_dir() and re.fullmatch(r"[0-9a-f]{16}", p.name))
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return gone


USAGE = "usage: zerodown accel build|status"


def main(argv: list[str]) -> int:
    """`zerodown accel build|status`."""
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{USAGE}\n\nbuild: compile the proxy's hot path with mypyc; status: say whether "
              "the compiled build is in use\n\nexamples:\n  zerodown accel build\n"
              "  zerodown accel status")
        return 0
    if argv == ["build"]:
        print(f"zerodown accel: compiled proxy hot path in {build()}")
    elif argv == ["status"]:
        print("compiled" if compiled() else "pure python")
    else:
        print(USAGE, file=sys.stderr)
        return 2
    return 0
