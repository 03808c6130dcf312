"""HAProxy's command sockets: the stats socket (Runtime API) and the master CLI.

One connection per command: HAProxy answers and closes (we half-close our side,
which the master CLI needs to end its answer). Errors come back as text; with
`set severity-output number` each message starts with its syslog level, so a
refused command ([0]..[3]) becomes a RouterError naming the command.
"""

from __future__ import annotations

import contextlib
import re

from zerodown.errors import HostFailure, RouterError, RuntimeFailure
from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host

TIMEOUT = 5.0
SEVERITY = "set severity-output number; "  # each message then starts with its level
_SEVERITY = re.compile(r"^\[(\d)\]: ?(.*)", re.S)
# An answer HAProxy refuses a command with (levels 0..3, or an unknown command).
REFUSED = re.compile(r"^\s*(\[[0-3]\]|Unknown command|\[6\]: Unknown)")


def checked(command: str, answer: str) -> str:
    """The answer to `command` sent after SEVERITY, its level taken off; RouterError with
    HAProxy's reason if it refused it."""
    answer = answer.strip()
    m = _SEVERITY.match(answer)
    if REFUSED.match(answer):
        reason = m.group(2).strip() if m else answer.splitlines()[0]
        raise RouterError(f"HAProxy refused `{command}`: {reason}")
    return m.group(2) if m else answer


class CommandSocket:
    """A unix socket HAProxy reads commands on."""

    def __init__(self, path: str, what: str, timeout: float = TIMEOUT, host: Host = LOCAL):
        """`path` on `host`, where HAProxy runs; every command is asked there (over SSH,
        one agent call: a command that got no answer is an error, never an empty one)."""
        self.path, self.what, self.timeout, self.host = path, what, timeout, host

    def raw(self, command: str) -> str:
        """Send one command line; its whole answer."""
        with self.talking():
            return self.host.ask_unix(self.path, command + "\n", self.timeout)

    def run(self, command: str) -> str:
        """A Runtime API command that must succeed: RouterError with HAProxy's reason if not."""
        return checked(command, self.raw(f"{SEVERITY}{command}"))

    def run_all(self, commands: list[str]) -> list[str]:
        """run() for each command in turn, in one call to the host (over SSH one round trip,
        each still its own connection to HAProxy); the first refused one raises its
        RouterError and the ones after it are not sent."""
        if not commands:
            return []
        with self.talking():
            answers = self.host.ask_unix_many(*self.batch_call(commands)[1])
        return self.checked_all(commands, answers)

    def batch_call(self, commands: list[str], stop: bool = True) -> tuple[str, list]:
        """The Host.batch call run_all(commands) makes (`stop`: none after a refused one);
        its answers go to checked_all()."""
        return ("ask_unix_many", [self.path, [f"{SEVERITY}{c}\n" for c in commands],
                                  self.timeout, REFUSED.pattern if stop else None])

    def checked_all(self, commands: list[str], answers: list[str]) -> list[str]:
        """The answers of batch_call(commands), each checked(); an answer missing for a
        command raises (never read as success)."""
        out = [checked(c, a) for c, a in zip(commands, answers)]
        if len(answers) != len(commands):
            raise RouterError(f"HAProxy's {self.what} {self.path}: {len(answers)} answers "
                              f"to {len(commands)} commands")
        return out

    @contextlib.contextmanager
    def talking(self):
        """RouterError naming the socket for an OSError or a failed call on the host; a
        HostFailure (HAProxy's host did not answer: the command's outcome is unknown)
        stays one, the socket named: the host's silence is on_host_failure's to handle
        (a pause), not a refusal of HAProxy's (a rollback, through that silent host)."""
        try:
            yield
        except OSError as e:
            raise RouterError(f"cannot talk to HAProxy's {self.what} {self.path}: "
                              f"{e.strerror or e}") from None
        except HostFailure as e:
            raise HostFailure(f"cannot talk to HAProxy's {self.what} {self.path}: {e}",
                              e.host) from None
        except RuntimeFailure as e:
            raise RouterError(f"cannot talk to HAProxy's {self.what} {self.path}: {e}") from None

    def answers(self) -> bool:
        """Does HAProxy answer here? (the master CLI knows `show proc`, a worker `show info`)
        HostFailure when its host does not answer: that is not a no."""
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
