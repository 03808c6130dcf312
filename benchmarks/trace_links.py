"""Each batch's chain, link by link, from `fleet_deploy.py --only rolling --trace` outputs
(the hosts' "at" times beside the controller's calls): ms per link, medians of a set.

    ZERODOWN_PURE_PYTHON=1 .venv/bin/python benchmarks/fleet_deploy.py --only rolling \\
        --steps --trace > run1.txt                      # a few of these per code version
    python3 benchmarks/trace_links.py before=run1.txt,run3.txt after=run2.txt,run4.txt

Made for rolling's plan of two batches of three (the benchmark's 3 hosts x 2 instances,
surge 3); a run whose trace lacks a host time (an older agent) is left out, named.
"""

from __future__ import annotations

import re
import statistics
import sys

LINE = re.compile(r"^\s+([\d.]+) ms \+\s*([\d.]+)\s+(.*?)(?:  \[(.*)\])?$")
MARK = re.compile(r"(zdf\d+) (\S+) (\w+): (\w+)$")
HEAD = re.compile(r"rolling\s+under load\s+\S+\s+deploy ([\d.]+) s critical path ([\d.]+) s")


def parse(path: str):
    """(deploy s, path s) under load, the calls [(start, end, name)], the marks
    {instance: {op: {event: ms}}}."""
    head, calls, marks = None, [], {}
    with open(path) as f:
        for line in f:
            if head is None and (h := HEAD.match(line)):
                head = float(h.group(1)), float(h.group(2))
            m = LINE.match(line)
            if not m:
                continue
            t, d, name = float(m.group(1)), float(m.group(2)), m.group(3).strip()
            if mark := MARK.match(name):
                marks.setdefault(mark.group(2), {}).setdefault(mark.group(3), {})[
                    mark.group(4)] = t
            else:
                calls.append((t, t + d, name))
    return head, calls, marks


def links(path: str) -> dict[str, float] | None:
    head, calls, marks = parse(path)
    named = lambda n: sorted(c for c in calls if c[2] == n)  # noqa: E731
    starts, probes, applies, stops = (named("runtime.start"), named("runtime._probe"),
                                      named("router.apply"), named("runtime.stop"))
    started = sorted((n for n in marks if "start" in marks[n]),
                     key=lambda n: marks[n]["start"]["called"])
    if head is None or len(started) < 6 or len(starts) < 6:
        return None
    out = {"deployment - critical path": 1000 * (head[0] - head[1])}
    for b, names in enumerate((started[:3], started[3:6]), 1):
        start, st = [marks[n]["start"] for n in names], min(c[0] for c in starts[3 * b - 3:3 * b])
        seen = [marks[n].get("await_listening", {}) for n in names]
        if any("listening" not in s for s in seen):
            return None
        listening, answered = max(s["listening"] for s in seen), max(s["answered"] for s in seen)
        first = min(s["answered"] for s in seen)
        probed = [p[1] for p in probes if first - 1 <= p[0] <= answered + 30]
        routed = next(a[1] for a in applies if a[0] >= answered)
        out |= {
            f"b{b} start call -> the host has it": max(s["called"] for s in start) - st,
            f"b{b} host: claim (-> spawning)": max(s["spawning"] - s["called"] for s in start),
            f"b{b} start call -> last spawning": max(s["spawning"] for s in start) - st,
            f"b{b} app: spawning -> listening": max(
                s["listening"] - x["spawning"] for s, x in zip(seen, start)),
            f"b{b} look's lag bound (refused -> listening)": max(
                s["listening"] - s.get("refused", s["listening"]) for s in seen),
            f"b{b} listening -> host answered": max(s["answered"] - s["listening"] for s in seen),
            f"b{b} last listening -> last probe done": max(probed) - listening,
            f"b{b} last probe done -> route applied": routed - max(probed)}
        if b == 1:
            out[f"b{b} route applied -> next start call"] = starts[3][0] - routed
        else:
            stopped = [m["stop"] for m in marks.values()
                       if m.get("stop", {}).get("called", 0) >= routed]
            out |= {
                f"b{b} route applied -> last stop at its host":
                    max(s["called"] for s in stopped) - routed,
                f"b{b} host: SIGTERM -> exited": max(s["exited"] - s["called"] for s in stopped),
                f"b{b} last exit -> deployment over": max(c[1] for c in calls) - max(
                    s["exited"] for s in stopped)}
    return out


def main() -> int:
    sets = {}
    for arg in sys.argv[1:]:
        label, _, files = arg.rpartition("=")
        rows: dict[str, list[float]] = {}
        for path in files.split(","):
            got = links(path)
            if got is None:
                print(f"{path}: no complete rolling trace with the hosts' times; left out")
                continue
            for k, v in got.items():
                rows.setdefault(k, []).append(v)
        sets[label or files] = rows
    if not sets:
        print(__doc__)
        return 2
    keys = list(next(iter(sets.values())))
    for k in keys:
        print(f"{k:48s}" + "".join(
            f"  {label} {statistics.median(r[k]):7.1f} ({' '.join(f'{v:.1f}' for v in r[k])})"
            for label, r in sets.items() if r.get(k)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
