"""CPU time a process tree spent, from /proc/PID/stat: unlike req/s it does not depend
on whether the scheduler gave the process a core to itself."""

from __future__ import annotations

import os

from bench_targets import import_zerodown


CLK_TCK = os.sysconf("SC_CLK_TCK")

# pid -> (kernel start time, utime, stime), in clock ticks
Snapshot = dict[int, tuple[int, int, int]]


def read_stat(pid: int) -> tuple[int, int, int, int] | None:
    """(ppid, start time, utime, stime) from /proc/<pid>/stat; None once it is gone."""
    import_zerodown()
    from zerodown.hosts.local import proc_stat
    fields = proc_stat(pid)
    if fields is None:
        return None
    return int(fields[1]), int(fields[19]), int(fields[11]), int(fields[12])


def cpu_snapshot(root: int | None) -> Snapshot:
    """CPU ticks so far of `root` and all its descendants (nginx and HAProxy workers)."""
    if root is None:
        return {}
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    if root not in stats:
        return {}
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        _, started, utime, stime = stats[pid]
        found[pid] = (started, utime, stime)
        todo += [child for child, stat in stats.items() if stat[0] == pid and child not in found]
    return found


def cpu_used(before: Snapshot, after: Snapshot) -> tuple[float, float, int] | None:
    """(user s, system s, processes) spent between two snapshots by the processes
    present in `after`; one started in between counts from zero."""
    if not after:
        return None
    user = system = 0
    for pid, (started, utime, stime) in after.items():
        then = before.get(pid)
        if then is not None and then[0] == started:  # the same process, not a reused pid
            utime, stime = utime - then[1], stime - then[2]
        user, system = user + utime, system + stime
    return user / CLK_TCK, system / CLK_TCK, len(after)
