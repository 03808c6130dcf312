"""Why a host's SSH connection did not open, in words that say what to do: asyncssh and
the OS say "Connect call failed ('10.0.0.12', 22)", "Name or service not known" or "Host
key is not trusted", which name neither the cause a user can act on nor the fix.

    untrusted_key(reason, spec, known_hosts, address, port)   # no key known, or another one
    not_connected(error, spec, ssh_config, address, port)      # refused, a name unknown, ...
    auth_refused(reason, identity_file, ssh_config)            # no key offered, or refused
"""

from __future__ import annotations

import os
import re
import socket

import asyncssh

from zerodown.runtimes.ssh_options import HostSpec


def untrusted_key(reason: str, spec: HostSpec, known_hosts: str, address: str,
                  port: int) -> str:
    """A host key refused: either known_hosts has none for the host (a host never added,
    which ssh-keyscan fetches) or it has another one (reinstalled, or another machine at
    its address: worth a look before replacing it). Both were said as "not the one known"."""
    address = _reason_host(reason) or address
    scan = keyscan(spec, address)
    if not _lists(known_hosts, address, port):
        return (f"no key for {address} in {known_hosts} (runtime.known_hosts; an unknown "
                f"host is refused, never trusted on first use): add it after checking it "
                f"({scan} >> {known_hosts})")
    return (f"its host key is not the one known for it in {known_hosts} ({reason}): the "
            f"host was reinstalled, or another machine answers at its address; once checked, "
            f"replace the old key (ssh-keygen -f {known_hosts} -R {address}; {scan} >> "
            f"{known_hosts}), or fix runtime.known_hosts")


def not_connected(error: BaseException, spec: HostSpec, ssh_config: str, address: str,
                  port: int, named: bool = True) -> str:
    """The words after `cannot connect: `. `named`: runtime.ssh_config names `ssh_config`
    (else it is ~/.ssh/config, which asyncssh reads unasked)."""
    if isinstance(error, ConnectionRefusedError):
        return (f"connection refused by {address}:{port}: no SSH server listens there "
                f"(sshd stopped, or on another port: [user@]address:port in runtime.hosts, "
                f"or Port in the ssh_config)")
    if isinstance(error, socket.gaierror):
        return (f"no address for {address} ({error.strerror})"
                f"{_typo(spec, ssh_config, address, named)}")
    return why(error)


def auth_refused(reason: str, identity_file: str | None, ssh_config: str) -> str:
    """The host refused every key offered, or none was: with no runtime.identity_file, no
    default key in ~/.ssh, no ssh-agent and no IdentityFile in the ssh_config, nothing was
    offered, and "check runtime.identity_file" sent a newcomer to a key they never set."""
    if identity_file is None and not _default_keys() and not os.environ.get("SSH_AUTH_SOCK") \
            and "identityfile" not in _config_text(ssh_config).lower():
        return (f"SSH authentication refused ({reason}): no key was offered (runtime."
                f"identity_file is not set, ~/.ssh has no {', '.join(DEFAULT_KEYS)}, no "
                f"ssh-agent runs, and the ssh_config names no IdentityFile): name the private "
                f"key the host's authorized_keys accept in runtime.identity_file")
    return (f"SSH authentication refused ({reason}); check runtime.identity_file and the "
            f"host's authorized_keys")


DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")  # what ssh and asyncssh offer unasked


def _default_keys() -> list[str]:
    home = os.path.expanduser("~/.ssh")
    return [k for k in (*DEFAULT_KEYS, "id_ed448", "id_dsa", "id_ed25519_sk", "id_ecdsa_sk")
            if os.path.exists(os.path.join(home, k))]


def _config_text(path: str) -> str:
    try:
        with open(os.path.expanduser(path)) as f:
            return f.read()
    except OSError:
        return ""


def why(e: BaseException) -> str:
    """An asyncssh or OS error in words (its reason, else its strerror, else its text)."""
    return getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e) \
        or type(e).__name__


def keyscan(spec: HostSpec, address: str) -> str:
    """The ssh-keyscan line that fetches the host's key from `address` (ssh-keyscan reads no
    ssh_config, so the name in runtime.hosts may mean nothing to it), its port named."""
    port = f"-p {spec.port} " if spec.port not in (None, 22) else ""
    return f"ssh-keyscan {port}{address}"


def _reason_host(reason: str) -> str | None:
    """The address asyncssh checked the key of, as its reason names it."""
    found = re.search(r" for host (\S+)$", reason or "")
    return found.group(1) if found else None


def _lists(known_hosts: str, address: str, port: int) -> bool:
    """Does `known_hosts` hold any key (or CA) for the address? Unreadable: say it does
    (the stricter words)."""
    try:
        found = asyncssh.read_known_hosts(known_hosts).match(
            address, address, None if port == 22 else port)
    except (OSError, ValueError):
        return True
    return any(found[i] for i in (0, 1, 3, 5))


def _typo(spec: HostSpec, ssh_config: str, address: str, named: bool) -> str:
    """A name that resolves nowhere: the Host names the ssh_config does have (a typo in
    runtime.hosts is the likely cause), or that no ssh_config was named."""
    if address != spec.host.lower():
        return f", the HostName {ssh_config} gives {spec.host}"
    names = _config_hosts(ssh_config)
    if not named:
        return (f": no DNS name here, nor a Host of {ssh_config} (runtime.ssh_config is not "
                f"set: name the ssh_config file that has it)" if not names else
                f": no DNS name here, nor a Host of {ssh_config} (its hosts: "
                f"{', '.join(names)}; runtime.ssh_config is not set)")
    if not names:
        return f": no DNS name here, nor a Host of {ssh_config}"
    return (f": no DNS name here, nor a Host of {ssh_config} (its hosts: "
            f"{', '.join(names)}); a typo in runtime.hosts?")


def _config_hosts(path: str) -> list[str]:
    """The plain names of an ssh_config's `Host` lines (patterns left out)."""
    names = []
    for line in _config_text(path).splitlines():
        words = line.split()
        if len(words) > 1 and words[0].lower() == "host":
            names += [w for w in words[1:] if not any(c in w for c in "*?!")]
    return names
