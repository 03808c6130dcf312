"""A process as zerodown records it: its pid *and* the kernel's start time of that pid
(/proc/<pid>/stat field 22), so a reused pid is never mistaken for ours, and the
machine's boot, so a record from before a reboot never names a stranger. Standard library
only, and nothing else of zerodown: a log stamper's prune imports it on every host
(hosts/log_prune.py), in a new interpreter at times, where each import costs CPU.
"""

from __future__ import annotations

_BOOT: str | None = None


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat from field 3 (state) on; None if `pid` is gone.

    Field N of proc(5) is at index N - 3: ppid 4 -> 1, utime 14 -> 11, stime 15 -> 12,
    starttime 22 -> 19.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()  # comm may hold spaces and parens


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (/proc/<pid>/stat field 22); None if it is not running."""
    fields = proc_stat(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return None  # exited, not yet reaped
    return int(fields[19])


def boot_id() -> str | None:
    """This boot of the machine (/proc/sys/kernel/random/boot_id); None if unknown."""
    global _BOOT
    if _BOOT is None:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
                _BOOT = f.read().strip()
        except OSError:
            return None
    return _BOOT


def this_boot(entry: dict) -> bool:
    """Was the record's pid written in this boot? After a reboot every process it named is
    gone, and its pid and start time (ticks since boot) may name a stranger's. A record
    without the boot (written before zerodown kept it) is judged by pid and start time."""
    return entry.get("boot") is None or entry["boot"] == boot_id()


def still_runs(entry: dict) -> bool:
    """Does the record's process run: its pid, started when recorded, in this boot? (No
    start time recorded: it had ended by the time its spawn was recorded.)"""
    started = entry.get("start_time")
    return bool(entry.get("pid")) and started is not None and this_boot(entry) and \
        start_time(entry["pid"]) == started
