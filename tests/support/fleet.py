"""The practice fleet (zerodown/practice_fleet.py) with what the tests do to it (root only,
as CI is):

    with Fleet(3) as fleet:                    # hosts zdf1..zdf3 at 10.231.77.11..13
        fleet.partition(fleet.hosts[1])        # its packets dropped on the bridge (no reset)
        fleet.heal(fleet.hosts[1])
        fleet.crash(fleet.hosts[2]); fleet.boot(fleet.hosts[2])   # every process gone, then back

Faults (partitions in the fleet's nft table, slow links), sweeps of what a test left on
the hosts (apps, agents, owner records, releases) and looks at the hosts' processes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from zerodown.fleet_lock import LOCK, FleetLock  # noqa: F401 (the tests' names for them)
from zerodown.practice_fleet import (BRIDGE, NFT_TABLE, PREFIX, ROOT, SUBNET,  # noqa: F401
                                     FleetHost, PracticeFleet, available, cleanup, run_tool)


class TestHost(FleetHost):
    __test__ = False  # not a test class, whatever its name

    def app_count(self) -> int:
        """How many of the example app's processes run here."""
        return len(self._apps())

    def agent_sessions(self) -> set[str]:
        """The pids of the agent sessions (`zerodown.hosts.agent --serve`) running here: not
        their stampers, forked from an agent with its command line."""
        rows = [line.split(None, 2) for line in
                self.run("ps -ww -eo pid=,ppid=,args=").stdout.splitlines()]
        serving = {pid: ppid for pid, ppid, *args in rows
                   if args and "zerodown.hosts.agent --serve" in args[0]}
        return {pid for pid, ppid in serving.items() if ppid not in serving}


class Fleet(PracticeFleet):
    """N hosts with sshd, the key to reach them, and the faults to inflict on them."""

    host_class = TestHost

    def kill_apps(self) -> None:
        """Every example app process on the hosts killed (theirs only: their PID namespaces),
        after a test that may have left some running."""
        for host in self.hosts:
            host.run("ps -ww -eo pid=,args= | awk '/[a]pp.py/ {print $1}' | xargs -r kill -9")

    def kill_apps_and_agents(self) -> None:
        """Every example app and every session of zerodown's agent on the hosts killed, in
        sweeps until one finds none, between two tests: a request of the test that ended
        can still be on its way to an agent (written to a host it had cut off, delivered
        once healed) and start an app after a sweep of apps alone; an agent mid-start has
        forked, and its child still carries the agent's command line until it is the app."""
        sweep = ("for i in $(seq 50); do pids=$(ps -ww -eo pid=,args= | "
                 "awk '/[a]pp.py|[z]erodown.hosts.agent/ {print $1}'); "
                 '[ -z "$pids" ] && exit 0; kill -9 $pids 2>/dev/null; done; '
                 "ps -ww -eo pid=,args=; exit 1")
        for host in self.hosts:
            done = host.run(sweep)
            if done.returncode != 0:
                raise RuntimeError(f"{host.name}: apps or agents still started after 50 "
                                   f"sweeps killing them:\n{done.stdout}{done.stderr}")

    def forget_owners(self) -> None:
        """Every service's owner record on the hosts removed (zerodown/hosts/owner.py),
        between two tests: each test's state folder is a controller of its own, and the
        next test's would be refused by a record the last one left."""
        for host in self.hosts:
            for record in (host.dir / "srv").glob("*/services/*/owner.json"):
                record.unlink(missing_ok=True)

    def forget_releases(self) -> None:
        """Every service's releases removed from the hosts (any state_dir), between two
        tests: a version's content is never changed on a host, and tests each make their
        own `v1` (an app alone, or with a script beside it): the next test's upload of
        another content under that name would be refused."""
        for host in self.hosts:
            for folder in (host.dir / "srv").glob("*/releases"):
                shutil.rmtree(folder, ignore_errors=True)

    def release_runtime(self, folder: Path):
        """The ssh runtime of the service release_config describes, its zerodown.yaml and
        state folder in `folder` (its releases/<version>/ folders are the caller's)."""
        from tests.support.net import free_port
        from zerodown.config import parse_config
        from zerodown.runtimes import runtime_for
        text = self.release_config(free_port())
        path = folder / "zerodown.yaml"
        path.write_text(text)
        return runtime_for(parse_config(text, file=str(path)), folder / "state")

    # --- faults --------------------------------------------------------------

    def partition(self, host: TestHost) -> None:
        """Drop every packet to and from the host on the bridge: no reset, no answer."""
        for chain in ("forward", "input", "output"):
            for direction in ("iifname", "oifname"):
                run_tool("nft", "add", "rule", "bridge", NFT_TABLE, chain, direction, host.veth,
                     "drop", "comment", f'"{host.name}"')

    def partition_between(self, a: TestHost, b: TestHost) -> None:
        """Drop the packets between two hosts only (each still reaches this machine);
        heal(a) removes it."""
        for src, dst in ((a, b), (b, a)):
            run_tool("nft", "add", "rule", "bridge", NFT_TABLE, "forward", "iifname", src.veth,
                 "oifname", dst.veth, "drop", "comment", f'"{a.name}"')

    def heal(self, host: TestHost) -> None:
        """Remove the host's partition rules."""
        listing = run_tool("nft", "-a", "list", "table", "bridge", NFT_TABLE).stdout
        chain = None
        for line in listing.splitlines():
            words = line.split()
            if words[:1] == ["chain"]:
                chain = words[1]
            elif f'comment "{host.name}"' in line and "# handle" in line:
                run_tool("nft", "delete", "rule", "bridge", NFT_TABLE, chain, "handle", words[-1])

    def slow(self, host: TestHost, rate: str = "1mbit") -> None:
        """Limit the link towards the host to `rate` (a token bucket; no delay emulation here)."""
        run_tool("tc", "qdisc", "replace", "dev", host.veth, "root", "tbf", "rate", rate,
             "burst", "16kbit", "latency", "400ms")

    def unslow(self, host: TestHost) -> None:
        run_tool("tc", "qdisc", "del", "dev", host.veth, "root", check=False)


def unsent(address: str) -> list[str]:
    """This machine's TCP connections to `address` holding data the host has not
    acknowledged (`ss` lines): what the host may still receive, and act on, later."""
    lines = run_tool("ss", "-tnH", "dst", address, check=False).stdout.splitlines()
    return [line for line in lines if len(line.split()) > 2 and line.split()[2] != "0"]


def leftovers(*marks: str) -> list[str]:
    """What of a fleet is on this machine: its namespaces, links, nft table, files, and any
    process of its hosts (their sshd, init, apps: seen here by their command lines) or
    whose command line holds one of `marks` (a folder of the caller's)."""
    found = [f"namespace {ns.split()[0]}" for ns in
             run_tool("ip", "netns", "list", check=False).stdout.splitlines()
             if ns.startswith(PREFIX)]
    found += [f"link {line.split(':')[1].strip()}" for line in
              run_tool("ip", "-o", "link", "show", check=False).stdout.splitlines()
              if line.split(":")[1].strip().startswith(PREFIX)]
    if run_tool("nft", "list", "table", "bridge", NFT_TABLE, check=False).returncode == 0:
        found.append(f"nft table {NFT_TABLE}")
    if ROOT.exists():
        found.append(f"folder {ROOT}")
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue   # gone meanwhile
        if any(mark in argv for mark in (str(ROOT), f"--host {SUBNET}.", *marks)):
            found.append(f"process {cmdline.parent.name}: {argv[:120]}")
    return found
