"""zerodown's own code on an SSH host, for the embedded proxy a router runs there.

    root = install_package(ssh_host)   # <state_dir>/zerodown/<hash>; PYTHONPATH=root
    python3 -m zerodown proxy ...      # the same zerodown as the controller's

Every .py file of the package, uploaded once per content (a folder named by the hash of
them all): the proxy on the host always speaks the admin API of the controller that
drives it. Compiled accelerators are left out (they belong to the controller's Python):
the proxy there runs as plain Python. Its third-party modules (uvloop, httptools,
google-re2) must be installed for the host's interpreter (router.python): the pre-flight
checks that.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shlex
import tarfile
from functools import lru_cache
from pathlib import Path

from zerodown.errors import RuntimeFailure
from zerodown.hosts.code_dirs import install_script

_ROOT = Path(__file__).resolve().parent.parent.parent


@lru_cache(maxsize=1)
def package() -> tuple[str, bytes]:
    """(content hash, tar.gz) of zerodown's .py files."""
    buf = io.BytesIO()
    digest = hashlib.sha256()
    files = sorted(p for p in (_ROOT / "zerodown").rglob("*.py") if "__pycache__" not in p.parts)
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            name, data = str(path.relative_to(_ROOT)), path.read_bytes()
            digest.update(name.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return digest.hexdigest()[:16], buf.getvalue()


def install_package(host) -> str:
    """The folder on `host` (an SshHost) holding this zerodown; uploaded unless there."""
    digest, data = package()
    root = f"{host.state_dir.rstrip('/')}/zerodown/{digest}"
    if getattr(host, "_package_root", None) == root:
        return root
    timeout = host.step_timeout
    there = host.connections.run(host.name, f"test -e {shlex.quote(root)}/ok", timeout=timeout)
    if there.status is None:
        raise RuntimeFailure(f"host {host.name}: cannot tell whether zerodown is installed "
                             f"in {root} ({there.stderr})")
    if there.status != 0:  # safe beside another process's install (code_dirs.py)
        done = host.connections.run(host.name, install_script(root),
                                    input=base64.b64encode(data).decode(), timeout=timeout)
        if not done.ok:
            raise RuntimeFailure(f"host {host.name}: cannot install zerodown in {root}: "
                                 f"exit {done.status}: {done.stderr.strip()[-500:]}")
    host._package_root = root
    return root
