"""The wait, on the machine an instance runs on, for the starting instance to listen
(InstanceTable.await_listening: what a WaitHealthy look of the ssh runtime waits for on
the instance's host, runtimes/ssh_look.py), and whose the listener is (owns_port) —
stdlib only: the agent runs it on every host (hosts/ssh.py uploads it).

    got = await_listening(entry, wait=0.25, poll=0.005, timeout=1, at={"called": t})
"""

from __future__ import annotations

import os
import select
import socket
import time

from zerodown.hosts.listeners import listening_inodes, ports_held, session_holds
from zerodown.hosts.local import pidfd, readable, running
from zerodown.hosts.probe import split_address


def await_listening(entry: dict, wait: float, poll: float, timeout: float, at: dict) -> dict:
    """Wait here up to `wait` s for the starting instance of the record `entry` to listen,
    looking every `poll` s (a connect to its address: refused costs the app nothing, the
    kernel answers; between two, a wait on the process's pidfd, so its exit ends the wait
    at once and no look reads /proc). {"alive": False} as soon as its process is gone (or
    is not ours); else
    {"alive": True, "listening": True/False, "entry": its record, "owned": (when
    listening) does the listener belong to the instance (owns_port), "seen": (when
    not) the last look}. "listening": None — this host cannot
    tell (its own address does not answer it: not refused, not accepted), so the probe
    from where the load balancer runs decides, as without this wait. `at`: the times of
    the call's events, "called" given (InstanceTable.start says what they are for)."""
    host, port = split_address(entry["address"])
    gone = pidfd(entry["pid"])  # readable the moment it exits: the wait between looks
    try:
        if not running(entry["pid"], entry["start_time"]):  # the pidfd names ours
            return {"alive": False}
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        except OSError as e:  # the address itself
            return {"alive": True, "listening": None, "entry": entry,
                    "seen": f"{host}:{port}: {e}"}
        waiter = select.poll()
        if gone is not None:
            waiter.register(gone, select.POLLIN)
        deadline = time.monotonic() + wait
        while True:
            seen = _connect(family, host, port, timeout)
            if seen is None:
                at["listening"] = time.time()
                owned = owns_port(entry["pid"], port)
                return {"alive": True, "listening": True, "entry": entry, "owned": owned,
                        "at": {**at, "answered": time.time()}}
            if not isinstance(seen, str):
                return {"alive": True, "listening": None, "entry": entry,
                        "seen": f"{host}:{port}: {seen}"}
            at["refused"] = time.time()
            left = deadline - time.monotonic()
            if left < poll:
                seen += _elsewhere(entry["pid"], host, port)
                return {"alive": True, "listening": False, "entry": entry, "seen": seen,
                        "at": {**at, "answered": time.time()}}
            if gone is None:
                time.sleep(poll)
            elif readable(gone, poll, waiter):  # exited (or a wrong wake-up: then sleep)
                os.close(gone)
                gone = None
            if gone is None and not running(entry["pid"], entry["start_time"]):
                return {"alive": False}
    finally:
        if gone is not None:
            os.close(gone)


def _elsewhere(pid: int, host: str, port: int) -> str:
    """Where the instance listens instead, if it does: on its port but another address (no
    {host} in app.command), or on other ports (a port of its own, no {port}): a refusal
    alone read as an app that never started, until start_timeout said only that."""
    inodes = listening_inodes(port)  # None: unreadable, so nothing is claimed
    if inodes and session_holds(pid, inodes):  # bound elsewhere
        return (f", though the instance listens on port {port} on another address: it must "
                f"listen on {host} ({{host}} in app.command) or on every address (0.0.0.0)")
    others = [p for p in ports_held(pid) or () if p != port]
    if others:
        return (f", though the instance listens on port {', '.join(map(str, others))}: it "
                f"must listen on the port zerodown gave it, {port} ({{port}} in app.command)")
    return ""


def _connect(family: int, host: str, port: int, timeout: float) -> str | OSError | None:
    """One look at the port: None if it accepted, the words if refused, else the error."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            return f"connection refused by {host}:{port}"
        except OSError as e:
            return e
    return None


def owns_port(pid: int, port: int) -> bool:
    """Does the port's listener belong to the instance's session, not a stranger?"""
    inodes = listening_inodes(port)
    return inodes is None or session_holds(pid, inodes)  # no /proc/net: trust the probe
