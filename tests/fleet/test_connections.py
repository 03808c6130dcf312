"""SSH connections to the real fleet: statuses, timeouts, unknown outcomes, re-opening."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import pytest

from tests.support.fleet import unsent
from tests.support.net import wait_until
from zerodown.hosts.connections import Connections
from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.runtimes.ssh_options import parse_options


def pool(fleet, **extra) -> Connections:
    options = parse_options({"hosts": [h.name for h in fleet.hosts],
                             "ssh_config": str(fleet.ssh_config),
                             "known_hosts": str(fleet.known_hosts), "connect_timeout": 2,
                             "keepalive": 0.5, **extra})
    return Connections(options)


@pytest.fixture
def conns(healthy_fleet):
    c = pool(healthy_fleet)
    yield c
    c.close()


def test_commands_run_as_channels_of_one_connection_per_host(conns, healthy_fleet):
    assert all(e is None for e in conns.connect_all().values())
    results = {}

    def each(name: str, i: int):
        results[(name, i)] = conns.run(name, f"hostname; exit {i}", timeout=5)
    threads = [threading.Thread(target=each, args=(h.name, i))
               for h in healthy_fleet.hosts for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (name, i), done in results.items():
        assert (done.status, done.stdout.strip()) == (i, name)
    assert len(conns._conns) == len(healthy_fleet.hosts)


def test_an_unknown_host_key_is_refused_naming_the_host(healthy_fleet, tmp_path):
    """known_hosts has no key for the host (a newcomer's: another host's only): said as
    that, with the line that adds it, not as a key "not the one known for it" (a changed
    key's words, which sent the user looking for a man in the middle)."""
    other = tmp_path / "known_hosts"
    other.write_text(healthy_fleet.known_hosts.read_text().splitlines()[1] + "\n")
    c = pool(healthy_fleet, known_hosts=str(other))
    try:
        path = re.escape(str(other))
        with pytest.raises(HostUnreachable, match=(
                rf"^host zdf1: no key for 10\.231\.77\.11 in {path} \(runtime\.known_hosts; "
                r"an unknown host is refused, never trusted on first use\): add it after "
                rf"checking it \(ssh-keyscan 10\.231\.77\.11 >> {path}\)$")):
            c.connect("zdf1")   # its HostName: ssh-keyscan reads no ssh_config
    finally:
        c.close()


def test_a_host_key_other_than_the_known_one_is_refused_naming_the_host(healthy_fleet,
                                                                      tmp_path):
    """known_hosts lists a key for zdf1's address, but zdf2's: a changed key (or a man in
    the middle) is refused as strictly as an unknown one."""
    other = tmp_path / "known_hosts"
    zdf2_key = healthy_fleet.known_hosts.read_text().splitlines()[1].split(" ", 1)[1]
    other.write_text(f"{healthy_fleet.hosts[0].address} {zdf2_key}\n")
    c = pool(healthy_fleet, known_hosts=str(other))
    try:
        with pytest.raises(HostUnreachable, match=r"host zdf1: its host key is not the one "
                                                  r"known for it in .*known_hosts .*: the host "
                                                  r"was reinstalled, or another machine .* "
                                                  r"\(ssh-keygen -f .* -R 10\.231\.77\.11; "):
            c.connect("zdf1")
        with pytest.raises(HostUnreachable, match="host zdf1: its host key"):
            c.run("zdf1", "true", timeout=5)   # nothing runs there, the next time either
    finally:
        c.close()


def test_a_refused_login_says_whether_any_key_was_offered(healthy_fleet, tmp_path,
                                                         monkeypatch):
    """hosts as addresses, no identity_file, no key in ~/.ssh, no agent: the refusal said
    "check runtime.identity_file", a key the newcomer never set; it now says nothing was
    offered. A key offered and refused is still sent to identity_file and authorized_keys."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    host = f"root@{healthy_fleet.hosts[0].address}"

    def refusal(**extra) -> str:
        c = Connections(parse_options({"hosts": [host], "connect_timeout": 2,
                                       "known_hosts": str(healthy_fleet.known_hosts), **extra}))
        try:
            with pytest.raises(HostUnreachable) as got:
                c.connect(host)
        finally:
            c.close()
        return str(got.value)
    none = refusal()
    assert none.startswith(f"host {host}: SSH authentication refused (") and none.endswith(
        "): no key was offered (runtime.identity_file is not set, ~/.ssh has no id_ed25519, "
        "id_ecdsa, id_rsa, no ssh-agent runs, and the ssh_config names no IdentityFile): "
        "name the private key the host's authorized_keys accept in runtime.identity_file"), none
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    other = refusal(identity_file=str(tmp_path / "k"))
    assert other.endswith("; check runtime.identity_file and the host's authorized_keys"), other


@pytest.mark.parametrize("key", ["known_hosts", "identity_file", "ssh_config"])
def test_a_missing_file_of_this_machine_is_named_with_its_key(healthy_fleet, tmp_path, key):
    """known_hosts' default (~/.ssh/known_hosts) is missing on many machines: asyncssh then
    said "cannot connect: No such file or directory", naming no file and no key."""
    missing = tmp_path / "missing"
    c = pool(healthy_fleet, **{key: str(missing)})
    try:
        with pytest.raises(HostUnreachable, match=rf"host zdf1: cannot read runtime\.{key} "
                                                  rf"{missing} \(No such file or directory\): "):
            c.connect("zdf1")
    finally:
        c.close()


def test_hosts_as_user_at_address_port_with_an_identity_file_and_no_ssh_config(
        healthy_fleet):
    """runtime.hosts without an ssh_config: [user@]address[:port], the key by identity_file."""
    a, b = healthy_fleet.hosts[:2]
    options = parse_options({"hosts": [f"root@{a.address}:22", b.address],
                             "identity_file": str(healthy_fleet.key),
                             "known_hosts": str(healthy_fleet.known_hosts),
                             "connect_timeout": 2})
    c = Connections(options)
    try:
        assert c.run(f"root@{a.address}:22", "hostname", timeout=5).stdout == f"{a.name}\n"
        assert c.run(b.address, "hostname", timeout=5).stdout == f"{b.name}\n"
    finally:
        c.close()


def test_aes_gcm_is_preferred_unless_the_ssh_config_chooses_the_ciphers(healthy_fleet,
                                                                        tmp_path):
    """asyncssh's first choice, chacha20-poly1305, costs the controller ~6x AES-GCM's CPU per
    packet; a user's `Ciphers` (here before every Host: for all of them) is kept."""
    c = pool(healthy_fleet)
    try:
        c.connect("zdf1")
        assert c._conns["zdf1"].get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
    finally:
        c.close()
    config = tmp_path / "ssh_config"
    config.write_text("Ciphers=chacha20-poly1305@openssh.com\n"
                      + healthy_fleet.ssh_config.read_text())
    c = pool(healthy_fleet, ssh_config=str(config))
    try:
        assert c.run("zdf1", "hostname", timeout=5).stdout == "zdf1\n"
        assert c._conns["zdf1"].get_extra_info("send_cipher") == \
            "chacha20-poly1305@openssh.com"
    finally:
        c.close()


def test_a_hanging_command_times_out_as_unknown_and_the_next_one_reconnects(conns):
    started = time.monotonic()
    done = conns.run("zdf1", "sleep 30", timeout=0.5)
    assert done.status is None and not done.ok
    assert time.monotonic() - started < 3
    assert conns.run("zdf1", "echo again", timeout=5).stdout == "again\n"


def test_a_partition_mid_command_is_unknown_never_success(conns, healthy_fleet):
    host = healthy_fleet.hosts[1]
    assert conns.run(host.name, "true", timeout=5).ok
    box = {}
    worker = threading.Thread(target=lambda: box.update(done=conns.run(
        host.name, "sleep 1; echo finished", timeout=4)))
    worker.start()
    healthy_fleet.partition(host)
    worker.join(10)
    assert box["done"].status is None, box["done"]
    errors = conns.connect_all()
    assert isinstance(errors[host.name], HostUnreachable) and host.name in str(errors[host.name])
    assert errors["zdf1"] is None and errors["zdf3"] is None
    healthy_fleet.heal(host)
    assert conns.run(host.name, "echo back", timeout=5).stdout == "back\n"


def test_a_request_to_a_host_cut_off_taken_as_unknown_never_runs_there_once_it_answers(
        conns, healthy_fleet):
    """A line written to a kept session (as the agent's `start`) while its host is cut off:
    the call is unknown and its connection dropped. It stayed in this machine's send queue
    and, once healed, was retransmitted and run there, up to minutes later (an instance of
    an earlier fleet test started during the next one); the dropped connection now resets,
    leaving nothing to deliver."""
    host, mark = healthy_fleet.hosts[1], f"asked-{os.getpid()}-{time.monotonic_ns()}"
    session = f"mkdir -p /tmp/{mark}; while read n; do touch /tmp/{mark}/$n; echo done; done"
    assert conns.ask(host.name, session, "before", timeout=5).stdout == "done\n"
    healthy_fleet.partition(host)
    try:
        assert conns.ask(host.name, session, "late", timeout=1).status is None
    finally:
        healthy_fleet.heal(host)
    wait_until(lambda: not unsent(host.address), timeout=30,
               what=f"no data of this machine's left unsent to {host.name}")
    assert conns.ask(host.name, session, "after", timeout=5).stdout == "done\n"
    touched = sorted(p.name for p in (host.dir / "tmp" / mark).iterdir())
    assert touched == ["after", "before"], touched


def test_keepalives_find_an_idle_connection_cut_off_and_the_next_command_fails_fast(
        conns, healthy_fleet):
    """An idle connection whose packets are dropped (no reset) is found dead by its
    keepalives (0.5 s × KEEPALIVE_COUNT here) and closed, so the next command tries a new
    connection and fails within connect_timeout, instead of waiting its own timeout on
    the dead one."""
    host = healthy_fleet.hosts[1]
    assert conns.run(host.name, "true", timeout=5).ok
    conn = conns._conns[host.name]
    healthy_fleet.partition(host)
    try:
        assert wait_until(conn.is_closed, timeout=10), "the keepalives never closed it"
        started = time.monotonic()
        with pytest.raises(HostUnreachable, match=rf"host {host.name}: no SSH connection"):
            conns.run(host.name, "true", timeout=30)
        assert time.monotonic() - started < 5
    finally:
        healthy_fleet.heal(host)
    assert conns.run(host.name, "echo back", timeout=5).stdout == "back\n"


def test_preflight_names_the_host_cut_off_and_clears_the_others(conns, healthy_fleet):
    from zerodown.hosts.preflight import preflight, refuse_unless_ready
    reports = preflight(conns, "/srv/zerodown")
    assert [r.ready for r in reports] == [True] * len(healthy_fleet.hosts), reports
    healthy_fleet.partition(healthy_fleet.hosts[2])
    conns.close()
    fresh = pool(healthy_fleet)
    try:
        reports = preflight(fresh, "/srv/zerodown")
        assert [r.ready for r in reports] == [True, True, False]
        with pytest.raises(Exception, match=r"zdf3: no SSH connection within 2s"):
            refuse_unless_ready(reports)
    finally:
        fresh.close()


def test_preflight_asks_an_installed_agent_and_finds_what_the_shell_finds(conns, healthy_fleet):
    from zerodown.hosts.preflight import preflight
    from zerodown.hosts.ssh import SshHost
    agents = {h.name: SshHost(conns, h.name, "/srv/zerodown") for h in healthy_fleet.hosts}
    agents["zdf1"].install()
    asked = []
    call = agents["zdf1"].call
    agents["zdf1"].call = lambda *a, **k: asked.append(a) or call(*a, **k)
    by_agent = preflight(conns, "/srv/zerodown", agents)
    by_shell = preflight(conns, "/srv/zerodown")
    assert asked == [("preflight", "/srv/zerodown", None)], "only the host with its agent installed"
    assert [r.ready for r in by_agent] == [True] * 3
    assert abs(by_agent[0].free_mb - by_shell[0].free_mb) < 50


def test_ask_reuses_an_open_session_and_an_ended_one_is_never_an_answer(conns):
    echo = "while read line; do echo $$ $line; done"
    first, second = (conns.ask("zdf1", echo, word, timeout=5) for word in ("a", "b"))
    assert first.ok and second.ok and second.stdout.split()[1] == "b"
    assert first.stdout.split()[0] == second.stdout.split()[0], "one session answered both"
    failed = conns.ask("zdf1", "read line; echo oops >&2; exit 3", "x", timeout=5)
    assert (failed.status, failed.stdout) == (3, "") and "oops" in failed.stderr
    killed = conns.ask("zdf1", "read line; kill -9 $$", "x", timeout=5)
    assert killed.status is None and not killed.ok
    started = time.monotonic()
    silent = conns.ask("zdf1", "read line; sleep 30", "x", timeout=0.5)
    assert silent.status is None and time.monotonic() - started < 3
    third = conns.ask("zdf1", echo, "c", timeout=5)
    assert third.ok and third.stdout.split()[0] != first.stdout.split()[0], \
        "the timeout dropped the connection, and its sessions with it"


def test_at_most_sessions_channels_are_open_on_a_host_at_once(conns):
    """sshd refuses a session channel above its MaxSessions (10 by default): calls beyond
    SESSIONS wait for one to close, idle `ask` sessions count, and none fails."""
    from zerodown.hosts.connections import SESSIONS
    from zerodown.hosts.idle_sessions import IDLE_SESSIONS
    slow = "while read line; do sleep 0.4; echo $line; done"
    results = []

    def each(i: int):
        results.append(conns.ask("zdf2", slow, str(i), timeout=10) if i % 2 else
                       conns.run("zdf2", "sleep 0.4; echo run", timeout=10))
    threads = [threading.Thread(target=each, args=(i,)) for i in range(2 * SESSIONS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 * SESSIONS and all(r.ok for r in results), results
    assert time.monotonic() - started >= 0.8, "not all at once: in two waves at least"
    assert len(conns._idle._idle[("zdf2", slow)]) <= IDLE_SESSIONS


def test_a_call_waiting_for_a_session_behind_hung_ones_ends_at_its_own_timeout(conns):
    """The wait for one of the host's SESSIONS channels counts in the call's timeout: a
    call queued behind hung ones fails in time, naming the host, instead of waiting for
    them (forever, were they to hang forever)."""
    from zerodown.hosts.connections import SESSIONS
    def hang():
        try:
            conns.run("zdf3", "sleep 20", timeout=20)
        except Exception:  # noqa: BLE001 - ended by conns.close() below: its end is not the test
            pass
    hung = [threading.Thread(target=hang, daemon=True) for _ in range(SESSIONS)]
    for t in hung:
        t.start()
    assert wait_until(lambda: conns._permits("zdf3")._value == 0, timeout=10), \
        "every session of zdf3 taken by a hung command"
    for call in (lambda: conns.run("zdf3", "echo late", timeout=1),
                 lambda: conns.ask("zdf3", "while read l; do echo $l; done", "x", timeout=1)):
        started = time.monotonic()
        done = call()
        took = time.monotonic() - started
        assert done.status is None and "zdf3" in done.stderr, done
        assert took < 3, f"the 9th call waited {took:.1f}s behind the hung ones"
    assert "8 sessions" in done.stderr and "busy" in done.stderr, done.stderr
    conns.close()  # ends the hung commands' channels
