"""The pre-flight of a fleet: is every host reachable, its key known, its state directory
writable, python3 there and disk free — asked of all hosts at once, before anything changes.

    reports = preflight(connections, "/var/lib/zerodown")   # one HostReport per host
    refuse_unless_ready(reports)                             # RuntimeFailure naming each bad host

A host whose agent (zerodown/hosts/ssh.py) is installed and answering is asked by it
(agent.py's preflight), a round trip on its open session (python3 is there, or the agent would not answer); the
others by a shell command (check_command), which also works on a host never used before.
With `shared` (hosts/shared_paths.py: app.shared_files), a host lacking a shared file is
not ready either: a deployment there would start instances without it. With `owner_dir`
(a service's folder there), the controller recorded as the service's owner is read in the
same round trip (HostReport.owner: hosts/owner.py; judged by the caller, who knows which
controller it is: runtimes/ssh_release.py, commands/fleet.py).
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Collection, Mapping, Sequence

from zerodown.errors import OwnerUnreadable, RuntimeFailure
from zerodown.hosts.connections import Connections
from zerodown.hosts.owner import FILE as OWNER_FILE
from zerodown.owner import parse_owner
from zerodown.runtimes.ssh_options import CHECK_TIMEOUT

MIN_FREE_MB = 100


@dataclass(frozen=True)
class HostReport:
    host: str
    problem: str | None = None      # None: ready
    free_mb: int | None = None      # free space where the state directory is
    owner: dict | None = None       # the service's owner there (asked with owner_dir)
    owner_read: bool = False        # whether `owner` was read (else unknown)

    def __post_init__(self) -> None:
        # A host's failure names its host ("host app2: no SSH connection ..."), and every
        # place that shows a report names it first: `app2: host app2: ...` said it twice.
        if self.problem and self.problem.startswith(f"host {self.host}: "):
            object.__setattr__(self, "problem", self.problem[len(f"host {self.host}: "):])

    @property
    def ready(self) -> bool:
        return self.problem is None


UNSHARED = "unshared:"  # check_command's line naming a shared file the host lacks
OWNER = "owner:"  # check_command's line with the owner file's content (empty: nobody)


def check_command(state_dir: str, shared: dict | None = None,
                  owner_dir: str | None = None) -> str:
    d = shlex.quote(state_dir)
    files = " ".join(shlex.quote(f"{shared['root']}/{p}")
                     for p in shared.get("files", ())) if shared else ""
    owner = shlex.quote(f"{owner_dir}/{OWNER_FILE}") if owner_dir else None
    # mkdir's own complaint is left out: the problem is one line, as the agent's is
    return (f"mkdir -p {d} 2>/dev/null && test -w {d} || {{ echo 'state_dir {state_dir} is "
            f"not writable' "
            f">&2; exit 4; }}; command -v python3 >/dev/null || {{ echo 'python3 is not "
            f"installed' >&2; exit 3; }}; df -Pk {d} | tail -n 1"
            + (f"; for f in {files}; do test -f \"$f\" || printf '{UNSHARED}%s\\n' \"$f\"; "
               f"done" if files else "")
            + (f"; printf '{OWNER}'; cat -- {owner} 2>/dev/null | tr -d '\\n'; echo"
               if owner else ""))


def report(host: str, status: int | None, stdout: str, stderr: str,
           shared: dict | None = None, owner_dir: str | None = None) -> HostReport:
    """A host's report from what check_command printed (pure); `owner_dir` as given to it."""
    if status is None:
        return HostReport(host, f"no answer to the check ({stderr})")
    if status != 0:
        said = "; ".join(line.strip() for line in stderr.splitlines() if line.strip())
        return HostReport(host, said or f"the check exited with {status}")  # one line: a table cell
    lines = stdout.splitlines()
    fields = lines[0].split() if lines else []
    if len(fields) < 4 or not fields[3].isdigit():
        return HostReport(host, f"cannot read free space from df: {stdout.strip()!r}")
    root = f"{(shared or {}).get('root')}/"
    unshared = [line[len(UNSHARED):].removeprefix(root) for line in lines[1:]
                if line.startswith(UNSHARED)]
    owners = [line[len(OWNER):] for line in lines[1:] if line.startswith(OWNER)]
    got = judged(host, None, int(fields[3]) // 1024, unshared, shared)
    return replace(got, owner=parse_owner(owners[0], f"{owner_dir}/{OWNER_FILE}"),
                   owner_read=True) if owners else got


def judged(host: str, problem: str | None, free_mb: int | None,
           unshared: list[str] | None = None, shared: dict | None = None) -> HostReport:
    """A host's report from what its check found (pure): a problem, too little space, or
    shared files (app.shared_files) missing there."""
    if problem is None and free_mb is not None and free_mb < MIN_FREE_MB:
        problem = f"only {free_mb} MB free for the state directory (at least {MIN_FREE_MB} MB)"
    if problem is None and unshared and shared:
        problem = (f"shared file{'s' if len(unshared) > 1 else ''} missing: "
                   + ", ".join(f"{shared['root']}/{p}" for p in unshared)
                   + " (app.shared_files: put each there before deploying)")
    return HostReport(host, problem, free_mb)


def preflight(connections: Connections, state_dir: str,
              agents: Mapping[str, Any] | None = None,
              shared: dict | None = None,
              names: Sequence[str] | None = None,
              owner_dir: str | None = None,
              unlisted: Collection[str] = ()) -> list[HostReport]:
    """Every host checked at once: `names`, else every host the connections know (the order
    of runtime.hosts first). `agents`: the SshHost of each host name, asked instead of a
    shell where its agent is installed already. `shared`: its files must be on every host
    of runtime.hosts (hosts/shared_paths.py), not on router.host nor on a host no longer
    listed, where no instance starts. `owner_dir`: the service's owner read there too, on
    the hosts of runtime.hosts and on `unlisted` (hosts off the list where instances the
    deployment acts on run), never router.host alone (HostReport.owner)."""
    unreachable = connections.connect_all(names)
    app_hosts = {spec.name for spec in connections.options.hosts}

    def one(host: str) -> HostReport:
        if unreachable[host] is not None:
            return HostReport(host, str(unreachable[host]))
        here = shared if host in app_hosts else None
        owner = owner_dir if host in app_hosts or host in unlisted else None
        agent = (agents or {}).get(host)
        if agent is not None and agent.installed:
            try:
                got = agent.call("batch", [["preflight", [state_dir, here]],
                                           ["owner", [owner, None, "look"]]],
                                 timeout=CHECK_TIMEOUT) if owner else \
                    [agent.call("preflight", state_dir, here, timeout=CHECK_TIMEOUT)]
            except OwnerUnreadable as e:  # it answered: the record is the problem
                return HostReport(host, e.said)
            except RuntimeFailure as e:
                return HostReport(host, f"no answer to the check ({e})")
            ready = judged(host, got[0]["problem"], got[0]["free_mb"], got[0]["unshared"], here)
            return replace(ready, owner=got[1]["owner"], owner_read=True) if owner else ready
        done = connections.run(host, check_command(state_dir, here, owner),
                               timeout=CHECK_TIMEOUT)
        return report(host, done.status, done.stdout, done.stderr, here, owner)
    with ThreadPoolExecutor(max_workers=min(32, len(unreachable) or 1)) as pool:
        return list(pool.map(one, list(unreachable)))


def refuse_unless_ready(reports: list[HostReport]) -> None:
    bad = [r for r in reports if not r.ready]
    if bad:
        raise RuntimeFailure("the fleet is not ready, nothing was changed:\n" +
                             "\n".join(f"  {r.host}: {r.problem}" for r in bad))
