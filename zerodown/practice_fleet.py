"""A practice fleet: N SSH hosts on this machine (root only), for `zerodown demo --fleet`
and the tests (tests/support/fleet.py adds the faults they inflict).

    with PracticeFleet(3) as fleet:            # hosts zdf1..zdf3 at 10.231.77.11..13
        fleet.hosts[0].address                 # "10.231.77.11", sshd on port 22, key auth
        fleet.release_config(port, strategy)   # a zerodown.yaml running the example app there

Each host is a network namespace joined to one bridge, and its processes run in
private mount, UTS and PID namespaces (so one host's processes cannot find
another's through /proc) with its own /srv, /tmp, /run and /root bind-mounted
from a per-host directory; /srv (the state directory's home) survives a crash
like a disk. Its init is a tiny reaper that runs Debian's sshd, configured for
fast connections (curve25519 key exchange, no DNS, no PAM) and bursts
(MaxStartups 100:30:200). The /24 exists only on the bridge made here.

Everything is named with the prefix `zdf`; a run that crashed leaves those names
behind and the next one removes them first, under a machine-wide lock
(zerodown/fleet_lock.py), so a concurrent run's fleet is never taken for leftovers:
one fleet at a time per machine, the next one waits, saying who holds it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from zerodown.errors import ZerodownError
from zerodown.example import APP
from zerodown.fleet_lock import FleetLock
from zerodown.undisturbed import undisturbed

REPO = APP.parents[2]  # the checkout the hosts see at its own path
PREFIX = "zdf"
BRIDGE = f"{PREFIX}br0"
SUBNET = "10.231.77"
GATEWAY = f"{SUBNET}.1"          # the root namespace's address on the bridge
NFT_TABLE = f"{PREFIX}_faults"   # bridge-family table (the tests' partitions go there)
ROOT = Path("/var/tmp/zerodown-fleet")  # not under /tmp: each host mounts its own /tmp
BOOT_TIMEOUT = 10.0
TOOLS = ("/usr/sbin/sshd", "nft", "ip", "tc", "unshare", "nsenter", "ssh-keygen")

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


class FleetError(ZerodownError):
    """The practice fleet could not be built here: the step, and what its tool said."""


def run_tool(*argv: str, check: bool = True,
             input: str | None = None) -> subprocess.CompletedProcess:
    """`argv` run; `check`: a FleetError naming it and its words if it fails (root without
    the right to make links, in a container without NET_ADMIN: `ip` says so, and a
    CalledProcessError's traceback said neither)."""
    # a session of its own: a Ctrl-C at the terminal must not cut a teardown's step short
    done = subprocess.run(argv, text=True, input=input, start_new_session=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and done.returncode != 0:
        said = " ".join(done.stderr.split()) or "nothing"
        raise FleetError(f"cannot build the practice fleet: `{' '.join(argv)}` failed (exit "
                         f"{done.returncode}): {said}")
    return done


def available() -> str | None:
    """Why a fleet cannot be built here (None: it can)."""
    if os.geteuid() != 0:
        return "a practice fleet needs root (network namespaces)"
    for tool in TOOLS:
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

    def app_versions(self) -> list[str]:
        """The versions of the example app's processes running here, sorted."""
        return sorted(line.split("--version ")[1].split()[0] for line in self._apps()
                      if "--version " in line)

    def _apps(self) -> list[str]:
        return self.run("ps -ww -eo args= | grep '[a]pp.py' || true").stdout.splitlines()

    def init_pid(self) -> int:
        """The host's pid 1, as the root namespace numbers it."""
        assert self.proc is not None, f"{self.name} is not running"
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0])


class PracticeFleet:
    """N hosts with sshd and the key to reach them. `lock`: a FleetLock the caller holds
    already (and keeps after stop), else the fleet takes one for its life."""

    host_class = FleetHost

    def __init__(self, size: int, root: Path = ROOT, lock: FleetLock | None = None):
        self.size = size
        self.root = root
        self.key = root / "id_ed25519"
        self.known_hosts = root / "known_hosts"
        self.ssh_config = root / "ssh_config"
        self.hosts = [self.host_class(f"{PREFIX}{i}", f"{SUBNET}.{10 + i}", root / f"{PREFIX}{i}",
                                      f"{PREFIX}v{i}") for i in range(1, size + 1)]
        self._given_lock = lock
        self._lock: FleetLock | None = None

    def __enter__(self) -> PracticeFleet:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if self._given_lock is None:
            self._lock = FleetLock().__enter__()
        try:
            cleanup()
            self.root.mkdir(parents=True)
            run_tool("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
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
        """Every host's processes, namespaces and links gone, and the files; a Ctrl-C
        meanwhile is told to wait (half a teardown leaves names the next fleet must remove)."""
        with undisturbed("tearing the practice fleet down"):
            for host in self.hosts:
                self.crash(host)
            cleanup()
        if self._lock is not None:
            self._lock.__exit__()
            self._lock = None

    def _network(self) -> None:
        run_tool("ip", "link", "add", BRIDGE, "type", "bridge")
        run_tool("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run_tool("ip", "link", "set", BRIDGE, "up")
        run_tool("nft", "-f", "-", input=f"table bridge {NFT_TABLE} {{\n"
             "  chain forward { type filter hook forward priority 0; }\n"
             "  chain input { type filter hook input priority 0; }\n"
             "  chain output { type filter hook output priority 0; }\n}\n")
        for host in self.hosts:
            run_tool("ip", "netns", "add", host.name)
            run_tool("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
                 "netns", host.name)
            run_tool("ip", "link", "set", host.veth, "master", BRIDGE, "up")
            ns = ("ip", "-n", host.name)
            run_tool(*ns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            run_tool(*ns, "link", "set", "eth0", "up")
            run_tool(*ns, "link", "set", "lo", "up")

    def _prepare(self, host: FleetHost) -> None:
        for sub in ("srv", "tmp", "run", "root/.ssh", "checkout"):
            (host.dir / sub).mkdir(parents=True, exist_ok=True)
        (host.dir / "tmp").chmod(0o1777)
        (host.dir / "root/.bashrc").write_text("# zerodown practice fleet: nothing to do\n")
        run_tool("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name,
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
                    raise FleetError(f"fleet host {host.name} ({host.address}) did not start "
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


def _sshd_answers(address: str) -> bool:
    """Does sshd on `address` send its banner (not just accept)?"""
    try:
        with socket.create_connection((address, 22), timeout=0.5) as s:
            s.settimeout(0.5)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def cleanup() -> None:
    """Remove everything a fleet (this one, or a crashed run's) left: its hosts' processes,
    namespaces, links, the bridge, the nft table and the files. Only names it uses."""
    for ns in run_tool("ip", "netns", "list", check=False).stdout.splitlines():
        name = ns.split()[0] if ns.split() else ""
        if name.startswith(PREFIX) and name[len(PREFIX):].isdigit():
            _kill_namespace(name)
            run_tool("ip", "netns", "del", name, check=False)
    for line in run_tool("ip", "-o", "link", "show", check=False).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith(f"{PREFIX}v") or link == BRIDGE:
            run_tool("ip", "link", "del", link, check=False)
    run_tool("nft", "delete", "table", "bridge", NFT_TABLE, check=False)
    shutil.rmtree(ROOT, ignore_errors=True)


def _kill_namespace(name: str) -> None:
    """SIGKILL every process whose network namespace is `name` (a crashed run's hosts)."""
    for pid in run_tool("ip", "netns", "pids", name, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
