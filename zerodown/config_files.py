"""The files zerodown.yaml points at, checked where they are used, not at every load.

    check_files(cfg)     # ConfigError: file:line: key and why, for each file that is bad

Loading zerodown.yaml checks its own text: keys, values, the rules across keys. What a
file it names holds changes under it (certbot renews a certificate into the same files
every ~60 days): were it checked at every load, a renewal gone wrong would fail `status`,
`down`, `abort`, `logs`... exactly when they are needed, and the snapshot the controller
falls back to names the same files. So only what needs the files checks them: `validate`,
`up`, a deployment and its `plan` (here), the load balancer's start (it reads them
itself), the controller's TLS watch (tls_refresh.py: a broken pair is not handed over).
app.env_file and secret files are checked by runtimes/release.py's check_release; the
ssh runtime's known_hosts, identity_file and ssh_config here too (a connection names them
as well, but `validate` said "valid" of a file whose known_hosts did not exist).
"""

from __future__ import annotations

import os

from zerodown.config import raise_errors
from zerodown.config_model import ServiceConfig
from zerodown.errors import ConfigError
from zerodown.schema_sections import Context
from zerodown.tls_refresh import read_pairs


def file_problems(cfg: ServiceConfig) -> list[ConfigError]:
    """Each certificate/key pair of `tls:` that is unreadable, does not parse or whose key
    is not its certificate's, at its key and line in cfg.file."""
    ctx = Context(cfg.file, cfg.lines or {})
    for pair in read_pairs(cfg.tls):
        if pair.problem is not None:
            ctx.error(pair.where, pair.problem)
    if cfg.runtime.kind == "ssh":
        _ssh_files(cfg, ctx)
    return ctx.errors


def _ssh_files(cfg: ServiceConfig, ctx: Context) -> None:
    from zerodown.runtimes.ssh_options import parse_options, unreadable
    opts = parse_options(cfg.runtime.options)  # valid: the file loaded
    for key, path, why in unreadable(opts, os.path.dirname(cfg.file or ".")):
        ctx.error(f"runtime.{key}", f"cannot read {path} ({why})"
                  + (": the hosts' keys go there (ssh-keyscan HOST >> it, after checking them)"
                     if key == "known_hosts" else ""))


def check_files(cfg: ServiceConfig) -> None:
    """Raise one ConfigError listing every file_problems(cfg) (exit 2), if any."""
    problems = file_problems(cfg)
    if problems:
        raise_errors(problems)
