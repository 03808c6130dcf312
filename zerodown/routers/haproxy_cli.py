"""HAProxy's command sockets: the stats socket (Runtime API) and the master CLI.

One connection per command: HAProxy answers and closes (we half-close our side,
which the master CLI needs to end its answer). Errors come back as text; with
`set severity-output number` each message starts with its syslog level, so a
refused command ([0]..[3]) becomes a RouterError naming the command.
"""

from __future__ import annotations

import re
import socket

from zerodown.errors import RouterError

TIMEOUT = 5.0
_SEVERITY = re.compile(r"^\[(\d)\]: ?(.*)", re.S)


class CommandSocket:
    """A unix socket HAProxy reads commands on."""

    def __init__(self, path: str, what: str, timeout: float = TIMEOUT, reach: str | None = None):
        """`path` on HAProxy's host; `reach`: where this machine connects to it (a socket
        forwarded over SSH when HAProxy runs on another host), `path` itself by default."""
        self.path, self.what, self.timeout = path, what, timeout
        self.reach = reach or path

    def raw(self, command: str) -> str:
        """Send one command line; its whole answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.reach)
                s.sendall(command.encode() + b"\n")
                s.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := s.recv(65536):
                    chunks.append(chunk)
        except OSError as e:
            raise RouterError(f"cannot talk to HAProxy's {self.what} {self.path}: "
                              f"{e.strerror or e}") from None
        return b"".join(chunks).decode(errors="replace")

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
