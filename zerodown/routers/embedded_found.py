"""The embedded proxy that serves a state directory, as its processes show it: found by
its command line when its record (proxy.pid) is lost, damaged or left by an earlier one,
and refused when it was started otherwise than zerodown.yaml says now."""

from __future__ import annotations

import os

from zerodown.errors import ListenMoved, RouterError
from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host
from zerodown.routers.common import option_of


def find_proxy(state_file: str, host: Host = LOCAL) -> tuple[int, int] | None:
    """The newest `zerodown proxy --state state_file` process of this user, by its command line.

    A supervisor's serving process has the same command line: only a process whose
    parent is not one of them counts (the supervisor, or a serving process it left)."""
    found: dict[int, int] = {}
    for pid, args in host.processes():
        if "proxy" not in args or "--state" not in args:
            continue
        i = args.index("--state")
        if i + 1 < len(args) and os.path.abspath(args[i + 1]) == state_file:
            started = host.start_time(pid)
            if started is not None:
                found[pid] = started
    roots = [(pid, started) for pid, started in found.items() if host.parent_of(pid) not in found]
    return max(roots, key=lambda p: p[1], default=None)


def refusal(running: list[str], wanted: list[str], who: str, shared: bool) -> RouterError | None:
    """Why the proxy started as `running` cannot serve as `wanted` (the command line this
    zerodown.yaml asks for), or None. Its listen address moves only by a new start, which
    is `down` and `up` (nothing answers between), never done unasked."""
    listen, now = option_of(running, "--listen"), option_of(wanted, "--listen")
    if listen != now:
        how = ("every zerodown.yaml sharing it says the same listen: move them all, with "
               "`zerodown down` of each service on it, then `zerodown up`" if shared
               else "it moves only by a new start: `zerodown down`, then `zerodown up`")
        return ListenMoved(f"{who} listens on {listen}, not on {now} as listen says now: "
                           f"{how} (nothing answers between the two), or set listen back to "
                           f"{listen}")
    if shared and running[3:] != wanted[3:]:
        return RouterError(f"{who} runs with other settings than this zerodown.yaml asks "
                           f"({' '.join(running[4:])}; this one: {' '.join(wanted[4:])}): every "
                           f"file sharing it must say the same listen, tls and router options")
    return None
