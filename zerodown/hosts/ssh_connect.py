"""Opening one host's SSH connection (asyncssh) from the `runtime: ssh` options, every
failure a HostUnreachable that names the host and what to fix.

    conn = await open_connection("app1", spec, options, folder)   # spec: options.hosts[i]

Connections (hosts/connections.py) decides when a connection is opened, shares it and
re-opens it; this file is only how: the files it reads (each named with its key when it
cannot be), the keepalives, the ciphers, how it closes, and asyncssh's errors put in
words.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import struct
from typing import Any

import asyncssh
from asyncssh.config import SSHClientConfig

from zerodown.errors import HostUnreachable
from zerodown.hosts.connect_words import auth_refused, keyscan, not_connected, untrusted_key
from zerodown.runtimes.ssh_options import (HostSpec, SshOptions, chooses_ciphers, local_path,
                                           unreadable)

KEEPALIVE_COUNT = 3
# AES-GCM before asyncssh's first choice, chacha20-poly1305: in Python each packet of the
# latter costs ~6x the controller's CPU (a cipher and a MAC context made per packet: 11-18
# against 1.7-3.4 us, benchmarks/ssh_cipher.py); the rest of asyncssh's list follows, for a
# server without AES-GCM. Only where the user's ssh_config does not choose (Ciphers).
CIPHERS_FIRST = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"


class ConnectTimedOut(HostUnreachable):
    """No connection within runtime.connect_timeout: the opening's own bound, which a call
    that joined it late must not take as its own (Connections._connection)."""


async def open_connection(name: str, spec: HostSpec, opts: SshOptions, folder: str):
    """`name`'s connection, opened within runtime.connect_timeout; HostUnreachable if not.
    Relative paths in `opts` are relative to `folder` (zerodown.yaml's)."""
    _readable(name, spec, opts, folder)
    kwargs: dict[str, Any] = dict(
        known_hosts=local_path(folder, opts.known_hosts), connect_timeout=opts.connect_timeout,
        keepalive_interval=opts.keepalive, keepalive_count_max=KEEPALIVE_COUNT)
    if opts.ssh_config:
        kwargs["config"] = [local_path(folder, opts.ssh_config)]
    # asyncssh reads ~/.ssh/config when it is given no ssh_config (and it exists)
    if not chooses_ciphers(local_path(folder, opts.ssh_config or "~/.ssh/config")):
        kwargs["encryption_algs"] = CIPHERS_FIRST
    if opts.identity_file:
        kwargs["client_keys"] = [local_path(folder, opts.identity_file)]
    if spec.user:
        kwargs["username"] = spec.user
    if spec.port:
        kwargs["port"] = spec.port
    try:
        conn = await asyncio.wait_for(asyncssh.connect(spec.host, **kwargs),
                                      opts.connect_timeout)
    except asyncssh.HostKeyNotVerifiable as e:
        raise HostUnreachable(f"host {name}: " + untrusted_key(
            e.reason, spec, kwargs["known_hosts"], *identity(spec, opts, folder)[1:]),
            name) from None
    except asyncssh.PermissionDenied as e:
        raise HostUnreachable(f"host {name}: " + auth_refused(
            e.reason, opts.identity_file, local_path(folder, opts.ssh_config or "~/.ssh/config")),
            name) from None
    except (asyncio.TimeoutError, TimeoutError):
        raise ConnectTimedOut(f"host {name}: no SSH connection within "
                              f"{opts.connect_timeout:g}s (runtime.connect_timeout)",
                              name) from None
    except (asyncssh.Error, OSError, ValueError) as e:
        raise HostUnreachable(f"host {name}: cannot connect: " + not_connected(
            e, spec, local_path(folder, opts.ssh_config or "~/.ssh/config"),
            *identity(spec, opts, folder)[1:], named=bool(opts.ssh_config)), name) from None
    _reset_on_close(conn)
    return conn


def _reset_on_close(conn) -> None:
    """Closing the connection (dropped as unknown, its keepalives unanswered, or this
    process killed) discards what the host has not received yet and resets it: written to
    a host cut off, a request (an agent's `start`) stays in the kernel's send queue and
    is retransmitted after the host answers again, up to minutes later, and the host runs
    it then, long after its caller took it as unknown and went on (an instance started
    after `zerodown down`). A reset the host never gets leaves its sshd session idle there
    (until its TCP keepalive), which runs nothing: its agent ends once its heartbeats stop
    (hosts/idle_sessions.py). No socket (a ProxyCommand): left as is."""
    sock = conn.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def identity(spec: HostSpec, opts: SshOptions, folder: str) -> tuple[str, str, int]:
    """(user, address, port) open_connection reaches for `spec`, after its ssh_config as
    asyncssh reads it (runtime.ssh_config, else ~/.ssh/config): two names of one host —
    app1 and deploy@app1 where the user is deploy, an ssh_config alias and its HostName —
    have the same. No DNS lookup: two DNS names of one address stay two hosts. A config
    that cannot be read counts as none (connecting names it)."""
    path = local_path(folder, opts.ssh_config or "~/.ssh/config")
    me = getpass.getuser()
    try:
        config = SSHClientConfig.load(None, [path] if os.access(path, os.R_OK) else [],
                                      False, False, False, me, spec.user or (), spec.host,
                                      spec.port or ())
        user, address, port = (config.get(k, None) for k in ("User", "Hostname", "Port"))
    except (OSError, ValueError):  # asyncssh's ConfigParseError is a ValueError
        user, address, port = spec.user, None, spec.port
    # (asyncssh's config values are typed object: User a str, Port an int, as spec's)
    return (user if isinstance(user, str) and user else me, str(address or spec.host).lower(),
            port if isinstance(port, int) and port else 22)


def _readable(name: str, spec: HostSpec, opts: SshOptions, folder: str) -> None:
    """This machine's files the connection reads, each named with its key when it cannot
    be read (asyncssh says only "No such file or directory", naming neither)."""
    fixes = {"known_hosts": f"create it with the hosts' keys ({keyscan(spec, spec.host)} "
                            f">> it, after checking them)",
             "identity_file": "name the private key the hosts' authorized_keys accept",
             "ssh_config": "name an OpenSSH client config file"}
    problems = unreadable(opts, folder)
    if problems:
        key, path, why = problems[0]
        raise HostUnreachable(f"host {name}: cannot read runtime.{key} {path} ({why}): "
                              f"{fixes[key]}", name)
