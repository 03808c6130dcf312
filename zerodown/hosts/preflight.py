"""The pre-flight of a fleet: is every host reachable, its key known, its state directory
writable, python3 there and disk free — asked of all hosts at once, before anything changes.

    reports = preflight(connections, "/var/lib/zerodown")   # one HostReport per host
    refuse_unless_ready(reports)                             # RuntimeFailure naming each bad host

A host whose agent (zerodown/hosts/ssh.py) is installed and answering is asked by it
(agent.py's preflight), a round trip on its open session (python3 is there, or the agent would not answer); the
others by a shell command (check_command), which also works on a host never used before.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping

from zerodown.errors import RuntimeFailure
from zerodown.hosts.connections import Connections

MIN_FREE_MB = 100
CHECK_TIMEOUT = 10.0


@dataclass(frozen=True)
class HostReport:
    host: str
    problem: str | None = None      # None: ready
    free_mb: int | None = None      # free space where the state directory is

    @property
    def ready(self) -> bool:
        return self.problem is None


def check_command(state_dir: str) -> str:
    d = shlex.quote(state_dir)
    return (f"mkdir -p {d} && test -w {d} || {{ echo 'state_dir {state_dir} is not writable' "
            f">&2; exit 4; }}; command -v python3 >/dev/null || {{ echo 'python3 is not "
            f"installed' >&2; exit 3; }}; df -Pk {d} | tail -n 1")


def report(host: str, status: int | None, stdout: str, stderr: str) -> HostReport:
    """A host's report from what check_command printed (pure)."""
    if status is None:
        return HostReport(host, f"no answer to the check ({stderr})")
    if status != 0:
        return HostReport(host, stderr.strip() or f"the check exited with {status}")
    fields = stdout.split()
    if len(fields) < 4 or not fields[3].isdigit():
        return HostReport(host, f"cannot read free space from df: {stdout.strip()!r}")
    return judged(host, None, int(fields[3]) // 1024)


def judged(host: str, problem: str | None, free_mb: int | None) -> HostReport:
    """A host's report from what its check found (pure): a problem, or too little space."""
    if problem is None and free_mb is not None and free_mb < MIN_FREE_MB:
        problem = f"only {free_mb} MB free for the state directory (at least {MIN_FREE_MB} MB)"
    return HostReport(host, problem, free_mb)


def preflight(connections: Connections, state_dir: str,
              agents: Mapping[str, Any] | None = None) -> list[HostReport]:
    """Every host checked at once; the order of runtime.hosts. `agents`: the SshHost of
    each host name, asked instead of a shell where its agent is installed already."""
    unreachable = connections.connect_all()
    command = check_command(state_dir)

    def one(host: str) -> HostReport:
        if unreachable[host] is not None:
            return HostReport(host, str(unreachable[host]))
        agent = (agents or {}).get(host)
        if agent is not None and agent.installed:
            try:
                got = agent.call("preflight", state_dir, timeout=CHECK_TIMEOUT)
            except RuntimeFailure as e:
                return HostReport(host, f"no answer to the check ({e})")
            return judged(host, got["problem"], got["free_mb"])
        done = connections.run(host, command, timeout=CHECK_TIMEOUT)
        return report(host, done.status, done.stdout, done.stderr)
    with ThreadPoolExecutor(max_workers=min(32, len(unreachable) or 1)) as pool:
        return list(pool.map(one, list(unreachable)))


def refuse_unless_ready(reports: list[HostReport]) -> None:
    bad = [r for r in reports if not r.ready]
    if bad:
        raise RuntimeFailure("the fleet is not ready, nothing was changed:\n" +
                             "\n".join(f"  {r.host}: {r.problem}" for r in bad))
