"""The test fleet itself: what the ssh runtime's tests rely on holds."""

from __future__ import annotations

import socket
import subprocess
import time


def ssh(fleet, host, command: str, timeout: float = 5.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(fleet.ssh_config), "-o", f"UserKnownHostsFile={fleet.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=1",
         host.name, command], capture_output=True, text=True, timeout=timeout)


def test_each_host_answers_with_its_own_key_name_and_processes(healthy_fleet):
    fleet = healthy_fleet
    for host in fleet.hosts:
        done = ssh(fleet, host, "hostname; ls /proc | grep -c '^[0-9]*$'; cat /run/sshd.pid")
        assert done.returncode == 0, done.stderr
        name, count, _ = done.stdout.split()
        assert name == host.name
        assert int(count) < 20, "a host sees only its own processes (its own PID namespace)"


def test_a_host_has_its_own_srv_tmp_and_run(healthy_fleet):
    fleet = healthy_fleet
    a, b = fleet.hosts[:2]
    assert ssh(fleet, a, "echo a > /srv/mark; echo a > /tmp/mark").returncode == 0
    assert ssh(fleet, b, "test -e /srv/mark || test -e /tmp/mark").returncode == 1
    assert (a.srv / "mark").read_text() == "a\n"


def test_a_partition_drops_packets_without_a_reset_and_heals(healthy_fleet):
    fleet = healthy_fleet
    host = fleet.hosts[1]
    fleet.partition(host)
    started = time.monotonic()
    try:
        socket.create_connection((host.address, 22), timeout=0.5).close()
        raise AssertionError("a partitioned host answered")
    except socket.timeout:
        pass  # dropped: no RST, no ICMP
    assert time.monotonic() - started >= 0.4
    assert ssh(fleet, fleet.hosts[0], "true").returncode == 0, "only that host is cut off"
    fleet.heal(host)
    assert ssh(fleet, host, "true").returncode == 0


def test_a_crashed_host_loses_its_processes_and_keeps_its_disk(healthy_fleet):
    fleet = healthy_fleet
    host = fleet.hosts[2]
    assert ssh(fleet, host, "setsid -f sleep 600 </dev/null >/dev/null 2>&1; echo kept > /srv/disk").returncode == 0
    fleet.crash(host)
    fleet.boot(host)
    done = ssh(fleet, host, "cat /srv/disk; pgrep -x sleep || echo none")
    assert done.stdout.split() == ["kept", "none"]
