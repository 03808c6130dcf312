"""The files a managed HAProxy reads in its state directory, and the Host.batch calls
that write them (haproxy.py sends those calls, with its questions, in one round trip).

    files = texts(settings, layout, table)    # name -> text, in the order they are written
    calls = writes(state, files, state_dir)   # state_dir/haproxy.json saved first

A file is written only when its text differs from the one last written there (its
digest in haproxy.json, haproxy_state.py), and the state is saved before the files
and again after with their digests: a file whose writing may have failed has no
digest, so it is written again next time.
"""

from __future__ import annotations

from pathlib import Path

from zerodown import tls_refresh
from zerodown.errors import RouterError
from zerodown.model import RoutingTable
from zerodown.routers import haproxy_render as render
from zerodown.routers import haproxy_tls
from zerodown.routers.haproxy_state import State, digest, dumps

CONFIG = "haproxy.cfg"
STATE = "haproxy.json"  # the router's state (haproxy_state.py), the files' digests in it


def texts(settings: render.Settings, layout: render.Layout, target: RoutingTable
          ) -> dict[str, str]:
    """Every file HAProxy reads, by name in settings.state_dir, in the order they are
    written: with `tls:` its certificate copies (cert + key in one PEM each) and their
    crt-list first, then the maps, haproxy.cfg last."""
    files = pems(settings)
    if settings.tls is not None:
        files[haproxy_tls.CRT_LIST] = haproxy_tls.crt_list_text(settings.tls, settings.state_dir)
    files.update({name: render.map_text(entries)
                  for name, entries in render.map_files(target, layout).items()})
    files[CONFIG] = render.render_config(settings, layout, target)
    return files


def pems(settings: render.Settings) -> dict[str, str]:
    """The certificate copies (cert + key in one PEM each) by name, read from the files."""
    if settings.tls is None:
        return {}
    return {name: _pem(cert) + _pem(key)
            for name, cert, key in haproxy_tls.pem_files(settings.tls)}


def writes(state: State, files: dict[str, str], state_dir: Path,
           every: bool = False) -> list[tuple[str, list]]:
    """Host.batch calls saving `state` to STATE in `state_dir`, then writing `files` there
    (`every`, or those whose text changed since last written), then `state` again with
    their digests."""
    state_file = state_dir / STATE
    changed = {name: text for name, text in files.items()
               if every or state.written.get(name) != digest(text)}
    for name in changed:
        state.written.pop(name, None)
    calls: list[tuple[str, list]] = [("write_text", [str(state_file), dumps(state)])]
    calls += [("write_text", [str(state_dir / n), t]) for n, t in changed.items()]
    if changed:
        state.written.update({n: digest(t) for n, t in changed.items()})
        calls.append(("write_text", [str(state_file), dumps(state)]))
    return calls


def renewed(state: State, files: dict[str, str]) -> dict[str, str]:
    """The certificate copies among `files` whose text changed since last written."""
    return {n: t for n, t in files.items()
            if n.endswith(".pem") and state.written.get(n) != digest(t)}


def held_back(files: dict[str, str], settings: render.Settings, state: State
              ) -> dict[str, str]:
    """`files` without the certificate copies renewed since last written while a pair does
    not load as a TLS server would load it (tls_refresh.read_pairs, the TLS watcher's
    check): the copies in force stay, as the watcher leaves them, and a route step does not
    fail on a renewal gone wrong (nor its rollback's). A copy never written is kept:
    HAProxy's start then refuses it, naming the file. Checked only when a copy changed."""
    changed = renewed(state, files)
    if not changed or settings.tls is None or \
            not any(p.problem for p in tls_refresh.read_pairs(settings.tls)):
        return files
    return {n: t for n, t in files.items() if n not in changed or n not in state.written}


def renew_commands(state_dir: Path, renewed: dict[str, str]) -> list[str]:
    """Runtime API commands handing certificate copies written anew to a running HAProxy
    (`set ssl cert` + `commit`): new handshakes get them, no reload. One sent again
    unchanged (its digest was not known) changes nothing."""
    commands = []
    for name, text in renewed.items():
        path = state_dir / name
        commands += [f"set ssl cert {path} <<\n{text}", f"commit ssl cert {path}"]
    return commands


def _pem(path: str) -> str:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise RouterError(f"cannot read {path} for HAProxy's TLS: {e.strerror or e}") from None
    # no blank line: the Runtime API's `set ssl cert <path> <<` payload ends at the first
    # one (a bundle with blank lines between its certificates would lose the key)
    return "".join(line + "\n" for line in text.splitlines() if line.strip())
