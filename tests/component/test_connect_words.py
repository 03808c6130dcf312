"""Why a host's SSH connection did not open, as zerodown says it (zerodown/hosts/
connect_words.py): a refusal and a name that resolves nowhere said with what to do, not
asyncio's "Connect call failed ('10.0.0.12', 22)" or the resolver's bare words."""

from __future__ import annotations

import socket

import pytest

from zerodown.hosts.connections import Connections
from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.runtimes.ssh_options import parse_options


def _connect(tmp_path, host: str, **extra) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    c = Connections(parse_options({"hosts": [host], "known_hosts": str(known),
                                   "connect_timeout": 5, **extra}), str(tmp_path))
    try:
        c.connect(host)
    finally:
        c.close()


def test_a_host_whose_sshd_is_stopped_is_said_to_refuse_with_where_and_why(tmp_path):
    """A host up but its sshd stopped (or on another port): the kernel refuses at once."""
    with socket.socket() as s:  # a port just freed: nothing listens there now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HostUnreachable) as got:
        _connect(tmp_path, f"127.0.0.1:{port}")
    assert str(got.value) == (
        f"host 127.0.0.1:{port}: cannot connect: connection refused by 127.0.0.1:{port}: no "
        f"SSH server listens there (sshd stopped, or on another port: [user@]address:port "
        f"in runtime.hosts, or Port in the ssh_config)")


def test_a_typo_in_runtime_hosts_names_the_hosts_the_ssh_config_has(tmp_path):
    """`hosts: [zdf1, zdf22]`: said only "Name or service not known"."""
    config = tmp_path / "ssh_config"
    config.write_text("Host zdf1\n  HostName 127.0.0.1\nHost zdf2 zdf3\n  User root\n"
                      "Host *.internal\n  User deploy\n")
    with pytest.raises(HostUnreachable) as got:
        _connect(tmp_path, "zdf22.invalid", ssh_config="ssh_config")
    said = str(got.value)
    assert said.startswith(
        "host zdf22.invalid: cannot connect: no address for zdf22.invalid ("), said
    assert said.endswith(f"): no DNS name here, nor a Host of {config} (its hosts: zdf1, zdf2, "
                         f"zdf3); a typo in runtime.hosts?"), said


def test_an_ssh_config_name_with_no_runtime_ssh_config_says_it_is_not_set(tmp_path,
                                                                          monkeypatch):
    """The practice fleet's `hosts: [zdf1, zdf2]` with its `ssh_config:` line forgotten:
    ~/.ssh/config (none here) was read instead, and the name resolved nowhere."""
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(HostUnreachable) as got:
        _connect(tmp_path, "zdf1.invalid")
    assert str(got.value).endswith(
        f": no DNS name here, nor a Host of {tmp_path}/.ssh/config (runtime.ssh_config is not "
        f"set: name the ssh_config file that has it)"), got.value
