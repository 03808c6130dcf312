"""Who listens on a TCP port of this machine, and is it a process of a given session
(stdlib only: the agent runs it on every host). An instance counts as healthy only when
the listener its probe reached is its own, not a stranger's that took its port
(InstanceTable.owns_port) — a look made on the path of every start, between the port
answering and the instance being routed.

The listeners are asked of the kernel by sock_diag (netlink, what `ss` uses) for TCP
sockets in state LISTEN on that port: the kernel walks only its listening sockets and
filters by port itself, 0.05 ms here. /proc/net/tcp, read when sock_diag is not there
(no inet_diag in the kernel), lists every socket of the namespace, TIME_WAIT ones of a
load test included: tens of thousands of rows, 4-28 ms a look.
"""

from __future__ import annotations

import os
import re
import socket
import struct

NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, TCP_LISTEN = 4, 20, 10
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 0x1, 0x300, 2, 3
_NLMSG = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
# inet_diag_msg: family, state, timer, retrans (4 x u8); id: sport, dport (be16), src, dst
# (16 bytes each), interface, cookie (2 x u32); expires, rqueue, wqueue, uid, inode (u32)
_SPORT, _INODE = 4, 68


def listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP `port` (any address); None if neither sock_diag nor
    /proc/net can tell."""
    try:
        return {str(i) for family in (socket.AF_INET, socket.AF_INET6)
                for i in _diag_listeners(family, port)}
    except OSError:
        return _proc_listeners(port)


def ports_held(session: int) -> list[int] | None:
    """The TCP ports the processes of session `session` listen on (the instance, or the
    child of a wrapper that stays its parent: a shell script, `npm start`; sock_diag: every
    listener, 0 being no port filter); None if that cannot be read."""
    try:
        found = {f"socket:[{i}]": p for family in (socket.AF_INET, socket.AF_INET6)
                 for p, i in _diag_dump(family, 0)}
    except OSError:
        return None
    held = {found[link] for pid in _session_pids(session) for link in _links(pid)
            if link in found}
    return sorted(held)


def _diag_listeners(family: int, port: int) -> list[int]:
    """The inodes of the TCP sockets of `family` listening on `port` (sock_diag)."""
    return [inode for _, inode in _diag_dump(family, port)]


def _diag_dump(family: int, port: int) -> list[tuple[int, int]]:
    """(port, inode) of the TCP sockets of `family` listening on `port`, every port if 0."""
    req = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN)
           + struct.pack("!HH", port, 0) + bytes(32)
           + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF))  # any interface, no cookie
    inodes: list[tuple[int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as s:
        s.settimeout(2)
        s.send(_NLMSG.pack(_NLMSG.size + len(req), SOCK_DIAG_BY_FAMILY,
                           NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req)
        while True:
            data, off = s.recv(65536), 0
            while off + _NLMSG.size <= len(data):
                length, kind = _NLMSG.unpack_from(data, off)[:2]
                body = off + _NLMSG.size
                if kind == NLMSG_DONE:
                    return inodes
                if kind == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", data, body)[0]
                    raise OSError(errno, f"sock_diag: {os.strerror(errno)}")
                sport = struct.unpack_from("!H", data, body + _SPORT)[0]
                if sport == port or not port:
                    inodes.append((sport, struct.unpack_from("=I", data, body + _INODE)[0]))
                off += (length + 3) & ~3
            if not data:
                raise OSError("sock_diag: the answer ended early")


def _proc_listeners(port: int) -> set[str] | None:
    """listening_inodes from /proc/net/tcp and tcp6; None without /proc/net.

    One regex over the whole table, in C: after a load test the table holds tens of
    thousands of TIME_WAIT rows, and a Python loop over them costs a health check 10 ms.
    """
    row = re.compile(rb"^ *\d+: [0-9A-F]+:%04X [0-9A-F]+:[0-9A-F]{4} 0A(?: +\S+){5} +(\d+)"
                     % port, re.MULTILINE)
    inodes: set[str] = set()
    seen_any = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, "rb") as f:
                data = f.read()
        except OSError:
            continue
        seen_any = True
        inodes.update(m.group(1).decode() for m in row.finditer(data))
    return inodes if seen_any else None


def holders(port: int, most: int = 3) -> list[str]:
    """Who listens on TCP `port` here, as `name (pid N)`: what a load balancer refused its
    address names (a scan of /proc, on that failure only); [] if that cannot be told."""
    links = {f"socket:[{i}]" for i in listening_inodes(port) or ()}
    found = []
    for entry in os.scandir("/proc") if links else ():
        if entry.name.isdigit() and _holds(entry.name, links):
            try:
                with open(f"/proc/{entry.name}/comm") as f:
                    found.append(f"{f.read().strip()} (pid {entry.name})")
            except OSError:
                found.append(f"pid {entry.name}")
            if len(found) == most:
                break
    return found


def _links(pid: str) -> list[str]:
    """What the fds of `pid` point at (one closed meanwhile left out)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    links = []
    for fd in fds:
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return links


def _holds(pid: str, links: set[str]) -> bool:
    return any(link in links for link in _links(pid))


def _session_pids(session: int) -> list[str]:
    """The processes of session `session`, its leader (the instance) first."""
    return [str(session)] + [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()
                             and entry.name != str(session) and _in_session(entry.name, session)]


def session_holds(session: int, inodes: set[str]) -> bool:
    """Does a process of session `session` hold one of these socket inodes?"""
    links = {f"socket:[{i}]" for i in inodes}
    if _holds(str(session), links):  # nearly always the instance itself: skip the scan
        return True
    return any(entry.name.isdigit() and _in_session(entry.name, session)
               and _holds(entry.name, links) for entry in os.scandir("/proc"))


def _in_session(pid: str, session: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return int(data[data.rindex(b")") + 2:].split()[3]) == session
