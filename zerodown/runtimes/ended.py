"""An instance found not running, said for a WaitHealthy's error and a health look: how it
ended (zerodown/hosts/exits.py, as its host recorded it) and its log's last lines. The
same words for the local runtime and the ssh one; the host's answer is
InstanceTable.ended's, there or here."""

from __future__ import annotations

from zerodown.hosts import exits

# Why nobody knows: only its parent could see its exit status, and the parent was gone by
# then (a `zerodown up` that exited, an agent session closed), or the host restarted.
UNKNOWN = " (the process that started it had ended, or the host restarted)"


def ended_text(name: str, where: str, got: dict, log: str) -> str:
    """'instance shop-r2-s0 (pid 4242 on zdf1) exited with status 3; last log lines ...'
    from `got` ({"how", "tail"}: InstanceTable.ended; "unknown": why, if not UNKNOWN's) and
    the log's name as shown."""
    how = exits.words(got["how"]) + ("" if got["how"] else got.get("unknown", UNKNOWN))
    return f"instance {name} ({where}) {how}; {tail_text(log, got['tail'])}"


def tail_text(log: str, lines: list[str]) -> str:
    return (f"last log lines ({log}):\n" + "\n".join(f"  | {line}" for line in lines)
            if lines else f"its log {log} is empty")
