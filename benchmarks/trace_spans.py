"""A rolling deployment's time cut into the spans its critical path is made of, from
`fleet_deploy.py --only rolling --trace` outputs (the hosts' own times beside the
controller's calls): medians per load condition, each beside the path's parts.

    ZERODOWN_PURE_PYTHON=1 .venv/bin/python benchmarks/fleet_deploy.py --only rolling \\
        --rounds 3 --trace > run.txt
    python3 benchmarks/trace_spans.py run.txt [more.txt ...]

For the benchmark's plan (3 hosts x 2 instances, surge 3: two batches of three, then the
last batch's old instances stopped), every round of every file, under load and without:

  to the first spawn   deployment's start -> the first batch's first spawn on a host
                       (pre-flight, the deployment's records, the start's way there)
  batch N, its boot    its first spawn -> its last instance listening (the path's "ready",
                       measured apart: beside it, with and without the plan's conditions)
  between batches      the first batch's last listening -> the second's first spawn
                       (probe, route, the records, the start's way there)
  to the last stops    the second batch's last listening -> the first last-stop at a host
                       (probe, route, drain, the stop's intent, the stop's way there)
  the last exits       that stop -> the last old instance exited (the path's "exit")
  after the exits      -> the deployment's end

The links (first spawn, between batches, last stops, after) are the controller's chain;
the boots and exits are the app's, slowed by whatever runs beside them on the fleet's
shared cores.
"""

from __future__ import annotations

import re
import statistics
import sys

CALL = re.compile(r"^\s+([\d.]+) ms \+\s*([\d.]+)\s+(.*?)(?:  \[(.*)\])?$")
MARK = re.compile(r"(zdf\d+) (\S+) (\w+): (\w+)$")
HEAD = re.compile(r"rolling\s+(under load|without load)\s+\S+\s+deploy ([\d.]+) s critical "
                  r"path ([\d.]+) s \(ready ([\d.]+) \+ ready ([\d.]+) \+ exit ([\d.]+)\)")
PLAN = re.compile(r"in the plan's conditions ([\d.]+) s \(ready ([\d.]+) \+ ready ([\d.]+) "
                  r"\+ exit ([\d.]+)\)")
CALLS = re.compile(r"rolling (under load|without load), its calls:")
KINDS = ("under load", "without load")


def rounds(path: str):
    """Each round's (condition, head numbers in ms, {instance: {op: {event: ms}}})."""
    heads: dict[str, list[list[float]]] = {k: [] for k in KINDS}
    marks: dict[str, list[dict]] = {k: [] for k in KINDS}
    last, current = None, None
    with open(path) as f:
        for line in f:
            if h := HEAD.search(line):
                last = h.group(1)
                heads[last].append([1000 * float(x) for x in h.groups()[1:]])
            elif (p := PLAN.search(line)) and last:
                heads[last][-1] += [1000 * float(x) for x in p.groups()]
            elif c := CALLS.match(line):
                current = {}
                marks[c.group(1)].append(current)
            elif current is not None and (m := CALL.match(line)) and (
                    mark := MARK.match(m.group(3).strip())):
                current.setdefault(mark.group(2), {}).setdefault(mark.group(3), {})[
                    mark.group(4)] = float(m.group(1))
    for kind in KINDS:
        for head, seen in zip(heads[kind], marks[kind]):
            yield kind, head, seen


def spans(head: list[float], seen: dict) -> dict[str, float] | None:
    started = sorted((n for n in seen if "spawning" in seen[n].get("start", {})),
                     key=lambda n: seen[n]["start"]["called"])
    if len(started) != 6 or any("listening" not in seen[n].get("await_listening", {})
                                for n in started):
        return None  # not this plan, or a trace without the hosts' times
    batch = []
    for names in (started[:3], started[3:]):
        batch.append((min(seen[n]["start"]["spawning"] for n in names),
                      max(seen[n]["await_listening"]["listening"] for n in names)))
    stops = [s["stop"] for s in seen.values()
             if "exited" in s.get("stop", {}) and s["stop"]["called"] > batch[1][1]]
    if not stops:
        return None
    deploy, path, ready1, ready2, exit_s = head[:5]
    plan = head[6:9] if len(head) > 6 else [None] * 3
    last_stop = min(s["called"] for s in stops)
    last_exit = max(s["exited"] for s in stops)
    return {"deployment": deploy, "critical path": path,
            "to the first spawn": batch[0][0],
            "batch 1, its boot": batch[0][1] - batch[0][0],
            "  the path's ready": ready1, "  in the plan's conditions": plan[0],
            "between batches": batch[1][0] - batch[0][1],
            "batch 2, its boot": batch[1][1] - batch[1][0],
            "  the path's ready ": ready2, "  in the plan's conditions ": plan[1],
            "to the last stops": last_stop - batch[1][1],
            "the last exits": last_exit - last_stop,
            "  the path's exit": exit_s, "  in the plan's conditions  ": plan[2],
            "after the exits": deploy - last_exit}


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    rows: dict[str, list[dict]] = {k: [] for k in KINDS}
    for path in sys.argv[1:]:
        for kind, head, seen in rounds(path):
            got = spans(head, seen)
            if got is None:
                print(f"{path}: a {kind} round without the plan's spans; left out")
            else:
                rows[kind].append(got)
    for kind in KINDS:
        if not rows[kind]:
            continue
        print(f"{kind}, {len(rows[kind])} rounds: ms, median (each round)")
        for key in rows[kind][0]:
            values = [r[key] for r in rows[kind] if r[key] is not None]
            if values:
                print(f"  {key:30s} {statistics.median(values):6.1f}  "
                      f"({' '.join(f'{v:.0f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
