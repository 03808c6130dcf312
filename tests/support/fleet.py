"""A fleet of SSH hosts on this machine, for the ssh runtime's tests (root only, as CI is).

    with Fleet(3) as fleet:                    # hosts zdf1..zdf3 at 10.231.77.11..13
        fleet.hosts[0].address                 # "10.231.77.11", sshd on port 22, key auth
        fleet.partition(fleet.hosts[1])        # its packets dropped on the bridge (no reset)
        fleet.heal(fleet.hosts[1])
        fleet.crash(fleet.hosts[2]); fleet.boot(fleet.hosts[2])   # every process gone, then back

Each host is a network namespace joined to one bridge, and its processes run in
private mount, UTS and PID namespaces (so one host's processes cannot find
another's through /proc) with its own /srv, /tmp, /run and /root bind-mounted
from a per-host directory; /srv (the state directory's home) survives a crash
like a disk. Its init is a tiny reaper that runs Debian's sshd, configured for
fast connections (curve25519 key exchange, no DNS, no PAM) and bursts
(MaxStartups 100:30:200). The /24 exists only on the bridge made here.

Everything is named with the prefix `zdf`; a run that crashed leaves those names
behind and the next one removes them first (under a lock, so a concurrent run's
fleet is never taken for leftovers).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.procs import APP, REPO

PREFIX = "zdf"
BRIDGE = f"{PREFIX}br0"
SUBNET = "10.231.77"
GATEWAY = f"{SUBNET}.1"          # the root namespace's address on the bridge
NFT_TABLE = f"{PREFIX}_faults"   # bridge-family table holding the partitions
ROOT = Path("/var/tmp/zerodown-fleet")  # not under /tmp: each host mounts its own /tmp
LOCK = Path("/run/zerodown-fleet.lock")
BOOT_TIMEOUT = 10.0

SERVICE_CONFIG = """\
service: shop
listen: 127.0.0.1:{port}
instances: {instances}
app:
  # the system python: the venv's resolves into /root, which each fleet host mounts privately
  command: ["/usr/bin/python3", "{app}", "--host", "{{host}}", "--port", "{{port}}", "--version", "{{version}}"]
  env: {{APP_DRAIN_TIMEOUT: "5"}}
health: {{path: /healthz, interval: 100ms, timeout: 1s, start_timeout: 10s}}
drain_timeout: 5s
stop_grace: 3s
strategy: {strategy}
on_failure: rollback
runtime:
  kind: ssh
  hosts: [{hosts}]
  instances_per_host: {per_host}
  ssh_config: {ssh_config}
  known_hosts: {known_hosts}
  state_dir: /srv/zerodown
  connect_timeout: 2s
  keepalive: 1s
"""

# pid 1 of a host's PID namespace: run sshd and reap every orphan (instances detach).
_INIT = """
import os, signal, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: child.terminate())
while True:
    try:
        pid, _ = os.wait()
    except ChildProcessError:
        sys.exit(0)
    if pid == child.pid:
        sys.exit(0)
"""

_SSHD_CONFIG = """\
Port 22
ListenAddress {address}
HostKey {dir}/ssh_host_ed25519_key
AuthorizedKeysFile {fleet}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
PidFile /run/sshd.pid
KexAlgorithms curve25519-sha256
MaxStartups 100:30:200
MaxSessions 200
LogLevel ERROR
Subsystem sftp internal-sftp
"""


def _run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, text=True, input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def available() -> str | None:
    """Why a fleet cannot be built here (None: it can)."""
    if os.geteuid() != 0:
        return "the test fleet needs root (network namespaces)"
    for tool in ("/usr/sbin/sshd", "nft", "ip", "tc", "unshare", "nsenter", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (scripts/setup.sh installs it)"
    return None


@dataclass
class FleetHost:
    name: str          # zdf1, also its hostname and network namespace
    address: str       # as the controller (root namespace) reaches it
    dir: Path          # its disk: srv/, tmp/, run/, root/ and its sshd files
    veth: str          # the bridge side of its link
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def srv(self) -> Path:
        """Its /srv, seen from outside."""
        return self.dir / "srv"

    def run(self, command: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
        """`command` run inside the host (its namespaces), without SSH."""
        pid = self.init_pid()
        return subprocess.run(["nsenter", "-t", str(pid), "-n", "-m", "-u", "-p", "--",
                               "sh", "-c", command], text=True, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def app_count(self) -> int:
        """How many of the example app's processes run here."""
        return len(self._apps())

    def app_versions(self) -> list[str]:
        """The versions of the example app's processes running here, sorted."""
        return sorted(line.split("--version ")[1].split()[0] for line in self._apps()
                      if "--version " in line)

    def agent_sessions(self) -> set[str]:
        """The pids of the agent sessions (`zerodown.hosts.agent --serve`) running here: not
        their stamper forkers and stampers, forked from an agent with its command line."""
        rows = [line.split(None, 2) for line in
                self.run("ps -ww -eo pid=,ppid=,args=").stdout.splitlines()]
        serving = {pid: ppid for pid, ppid, *args in rows
                   if args and "zerodown.hosts.agent --serve" in args[0]}
        return {pid for pid, ppid in serving.items() if ppid not in serving}

    def _apps(self) -> list[str]:
        return self.run("ps -ww -eo args= | grep '[a]pp.py' || true").stdout.splitlines()

    def init_pid(self) -> int:
        """The host's pid 1, as the root namespace numbers it."""
        assert self.proc is not None, f"{self.name} is not running"
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0])


class Fleet:
    """N hosts with sshd, the key to reach them, and the faults to inflict on them."""

    def __init__(self, size: int, root: Path = ROOT):
        self.size = size
        self.root = root
        self.key = root / "id_ed25519"
        self.known_hosts = root / "known_hosts"
        self.ssh_config = root / "ssh_config"
        self.hosts = [FleetHost(f"{PREFIX}{i}", f"{SUBNET}.{10 + i}", root / f"{PREFIX}{i}",
                                f"{PREFIX}v{i}") for i in range(1, size + 1)]
        self._lock = None

    # --- up and down ---------------------------------------------------------

    def __enter__(self) -> "Fleet":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._lock = open(LOCK, "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # one fleet at a time: its names are fixed
        try:
            cleanup()
            self.root.mkdir(parents=True)
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
            (self.root / "authorized_keys").write_text((self.root / "id_ed25519.pub").read_text())
            self._network()
            for host in self.hosts:
                self._prepare(host)
                self.boot(host, wait=False)
            self._wait_all()
            self._write_client_files()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for host in self.hosts:
            self.crash(host)
        cleanup()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _network(self) -> None:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        _run("nft", "-f", "-", input=f"table bridge {NFT_TABLE} {{\n"
             "  chain forward { type filter hook forward priority 0; }\n"
             "  chain input { type filter hook input priority 0; }\n"
             "  chain output { type filter hook output priority 0; }\n}\n")
        for host in self.hosts:
            _run("ip", "netns", "add", host.name)
            _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
                 "netns", host.name)
            _run("ip", "link", "set", host.veth, "master", BRIDGE, "up")
            ns = ("ip", "-n", host.name)
            _run(*ns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _run(*ns, "link", "set", "eth0", "up")
            _run(*ns, "link", "set", "lo", "up")

    def _prepare(self, host: FleetHost) -> None:
        for sub in ("srv", "tmp", "run", "root/.ssh", "checkout"):
            (host.dir / sub).mkdir(parents=True, exist_ok=True)
        (host.dir / "tmp").chmod(0o1777)
        (host.dir / "root/.bashrc").write_text("# zerodown test fleet: nothing to do\n")
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name,
             "-f", str(host.dir / "ssh_host_ed25519_key"))
        (host.dir / "sshd_config").write_text(_SSHD_CONFIG.format(
            address=host.address, dir=host.dir, fleet=self.root))

    def boot(self, host: FleetHost, wait: bool = True) -> None:
        """Start the host (again): fresh namespaces and sshd, its /srv kept."""
        d = host.dir
        # The checkout (the example app, the code the hosts run) is seen at its own path on
        # every host: a fresh clone in `mktemp -d` is under /tmp, which each host mounts
        # its own over — held aside first, then bound back where it was.
        setup = (f"mount --bind {REPO} {d}/checkout && "
                 f"mount --bind {d}/srv /srv && mount --bind {d}/tmp /tmp && "
                 f"mount --bind {d}/run /run && mount --bind {d}/root /root && "
                 f"mkdir -p {REPO} && mount --bind {d}/checkout {REPO} && "
                 f"mkdir -p /run/sshd && hostname {host.name} && "
                 f"exec /usr/bin/python3 -c '{_INIT}' /usr/sbin/sshd -D -e -f {d}/sshd_config")
        log = open(d / "host.log", "ab")
        host.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{host.name}", "unshare", "--mount", "--uts", "--pid",
             "--fork", "--mount-proc", "--kill-child=SIGKILL", "sh", "-c", setup],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        if wait:
            self._wait_all([host])

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

    def crash(self, host: FleetHost) -> None:
        """Every process of the host gone at once (its PID namespace's init killed); /srv stays."""
        if host.proc is None:
            return
        try:
            os.killpg(host.proc.pid, signal.SIGKILL)  # unshare --kill-child takes pid 1 with it
        except ProcessLookupError:
            pass
        host.proc.wait()
        host.proc = None

    def _wait_all(self, hosts: list[FleetHost] | None = None) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        for host in hosts or self.hosts:
            while not _sshd_answers(host.address):
                if host.proc is not None and host.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    log = (host.dir / "host.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"fleet host {host.name} ({host.address}) did not start "
                                       f"sshd within {BOOT_TIMEOUT:g}s; its log:\n{log}")
                time.sleep(0.02)

    def _write_client_files(self) -> None:
        lines, config = [], []
        for host in self.hosts:
            key = (host.dir / "ssh_host_ed25519_key.pub").read_text().split()
            lines.append(f"{host.address} {key[0]} {key[1]}")
            config.append(f"Host {host.name}\n  HostName {host.address}\n  User root\n"
                          f"  Port 22\n  IdentityFile {self.key}\n")
        self.known_hosts.write_text("\n".join(lines) + "\n")
        self.ssh_config.write_text("\n".join(config))

    def service_config(self, port: int, strategy: str, per_host: int = 2) -> str:
        """A zerodown.yaml running the example app on every host (runtime: ssh)."""
        return SERVICE_CONFIG.format(port=port, app=APP, strategy=strategy,
                                     instances=per_host * self.size, per_host=per_host,
                                     hosts=", ".join(h.name for h in self.hosts),
                                     ssh_config=self.ssh_config, known_hosts=self.known_hosts)

    def release_config(self, port: int, strategy: str = "{kind: rolling}",
                       per_host: int = 1) -> str:
        """service_config with `app.release: releases/{version}`: the example app run as
        app.py from each version's uploaded folder (the caller puts it there)."""
        return self.service_config(port, strategy, per_host).replace(
            f'"{APP}"', '"app.py"').replace("  env: {", "  release: releases/{version}\n  env: {")

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

    def partition(self, host: FleetHost) -> None:
        """Drop every packet to and from the host on the bridge: no reset, no answer."""
        for chain in ("forward", "input", "output"):
            for direction in ("iifname", "oifname"):
                _run("nft", "add", "rule", "bridge", NFT_TABLE, chain, direction, host.veth,
                     "drop", "comment", f'"{host.name}"')

    def partition_between(self, a: FleetHost, b: FleetHost) -> None:
        """Drop the packets between two hosts only (each still reaches this machine);
        heal(a) removes it."""
        for src, dst in ((a, b), (b, a)):
            _run("nft", "add", "rule", "bridge", NFT_TABLE, "forward", "iifname", src.veth,
                 "oifname", dst.veth, "drop", "comment", f'"{a.name}"')

    def heal(self, host: FleetHost) -> None:
        """Remove the host's partition rules."""
        listing = _run("nft", "-a", "list", "table", "bridge", NFT_TABLE).stdout
        chain = None
        for line in listing.splitlines():
            words = line.split()
            if words[:1] == ["chain"]:
                chain = words[1]
            elif f'comment "{host.name}"' in line and "# handle" in line:
                _run("nft", "delete", "rule", "bridge", NFT_TABLE, chain, "handle", words[-1])

    def slow(self, host: FleetHost, rate: str = "1mbit") -> None:
        """Limit the link towards the host to `rate` (a token bucket; no delay emulation here)."""
        _run("tc", "qdisc", "replace", "dev", host.veth, "root", "tbf", "rate", rate,
             "burst", "16kbit", "latency", "400ms")

    def unslow(self, host: FleetHost) -> None:
        _run("tc", "qdisc", "del", "dev", host.veth, "root", check=False)


def _sshd_answers(address: str) -> bool:
    """Does sshd on `address` send its banner (not just accept)?"""
    try:
        with socket.create_connection((address, 22), timeout=0.5) as s:
            s.settimeout(0.5)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def unsent(address: str) -> list[str]:
    """This machine's TCP connections to `address` holding data the host has not
    acknowledged (`ss` lines): what the host may still receive, and act on, later."""
    lines = _run("ss", "-tnH", "dst", address, check=False).stdout.splitlines()
    return [line for line in lines if len(line.split()) > 2 and line.split()[2] != "0"]


def cleanup() -> None:
    """Remove everything a fleet (this one, or a crashed run's) left: its hosts' processes,
    namespaces, links, the bridge, the nft table and the files. Only names it uses."""
    for ns in _run("ip", "netns", "list", check=False).stdout.splitlines():
        name = ns.split()[0] if ns.split() else ""
        if name.startswith(PREFIX) and name[len(PREFIX):].isdigit():
            _kill_namespace(name)
            _run("ip", "netns", "del", name, check=False)
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith(f"{PREFIX}v") or link == BRIDGE:
            _run("ip", "link", "del", link, check=False)
    _run("nft", "delete", "table", "bridge", NFT_TABLE, check=False)
    shutil.rmtree(ROOT, ignore_errors=True)


def _kill_namespace(name: str) -> None:
    """SIGKILL every process whose network namespace is `name` (a crashed run's hosts)."""
    for pid in _run("ip", "netns", "pids", name, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
