"""HAProxy's command sockets: the stats socket (Runtime API) and the master CLI.

One connection per command: HAProxy answers and closes (we half-close our side,
which the master CLI needs to end its answer). Errors come back as text; with
`set severity-output number` each message starts with its syslog level, so a
refused command ([0]..[3]) becomes a RouterError naming the command.
"""

from __future__ import annotations

import re

from zerodown.errors import RouterError, RuntimeFailure
from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host

TIMEOUT = 5.0
_SEVERITY = re.compile(r"^\[(\d)\]: ?(.*)", re.S)


class CommandSocket:
    """A unix socket HAProxy reads commands on."""

    def __init__(self, path: str, what: str, timeout: float = TIMEOUT, host: Host = LOCAL):
        """`path` on `host`, where HAProxy runs; every command is asked there (over SSH,
        one agent call: a command that got no answer is an error, never an empty one)."""
        self.path, self.what, self.timeout, self.host = path, what, timeout, host

    def raw(self, command: str) -> str:
        """Send one command line; its whole answer."""
        try:
            return self.host.ask_unix(self.path, command + "\n", self.timeout)
        except OSError as e:
            raise RouterError(f"cannot talk to HAProxy's {self.what} {self.path}: "
                              f"{e.strerror or e}") from None
        except RuntimeFailure as e:
            raise RouterError(f"cannot talk to HAProxy's {self.what} {self.path}: {e}") from None

    def run(self, command: str) -> str:
        """A Runtime API command that must succeed: RouterError with HAProxy's reason if not."""
        answer = self.raw(f"set severity-output number; {command}").strip()
        m = _SEVERITY.match(answer)
        if (m and int(m.group(1)) <= 3) or answer.startswith(("Unknown command", "[6]: Unknown")):
            reason = m.group(2).strip() if m else answer.splitlines()[0]
            raise RouterError(f"HAProxy refused `{command}`: {reason}")
        return m.group(2) if m else answer

    def answers(self) -> bool:
        """Does HAProxy answer here? (the master CLI knows `show proc`, a worker `show info`)"""
        try:
            if self.what == "master CLI":
                return "master" in self.raw("show proc")
            return "Name: HAProxy" in self.raw("show info")
        except RouterError:
            return False


def parse_proc(text: str) -> tuple[list[int], list[int]]:
    """Master CLI `show proc` -> (current worker pids, old worker pids still draining)."""
    current: list[int] = []
    old: list[int] = []
    section = None
    for line in text.splitlines():
        if line.startswith("#"):
            section = {"# workers": current, "# old workers": old}.get(line.strip())
            continue
        fields = line.split()
        if section is not None and len(fields) >= 2 and fields[0].isdigit() \
                and fields[1] == "worker":
            section.append(int(fields[0]))
    return current, old
