"""The controller's own links between a rolling deployment's batches, per deployment, from
`fleet_deploy.py --only rolling --steps --trace` outputs of any number of rounds (each
deployment's "its calls:" block apart, under load and without): ms per link, medians.

    ZERODOWN_PURE_PYTHON=1 .venv/bin/python benchmarks/fleet_deploy.py --only rolling \\
        --rounds 3 --steps --trace > run1.txt           # a few of these per code version
    python3 benchmarks/trace_chain.py before=run1.txt,run3.txt after=run2.txt,run4.txt

Links, per batch b (the engine's thread only, its top-level calls):
- "bN wait done -> route": the wait's finish_step's end to the route's stage_table (nothing
  of the engine's own between them: what else ran then, e.g. a thread's start);
- "bN drain -> stop begins": the drain's look to the Stop's begin_step (the drain's finish,
  the stop's router check);
- "proof's baseline": ProofRecorder.__enter__ (the load balancer's counters, their write).
trace_links.py reads one round's hosts' times; this reads every round's engine calls.
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

# a top-level call: two spaces between its duration and its name (a nested one has more)
TOP = re.compile(r"^\s+([\d.]+) ms \+\s*([\d.]+)  (\S.*?)(?:  \[(.*)\])?$")
BLOCK = re.compile(r"^rolling (under load|without load), its calls:$")
LOOKS = ("router.drain_state", "router.drain_look")


def deployments(path: str):
    """(label, [(start ms, duration ms, name)] of the engine thread's top-level calls)."""
    label, calls = None, []
    for line in Path(path).read_text().splitlines():
        if m := BLOCK.match(line):
            if label:
                yield label, calls
            label, calls = m.group(1), []
        elif label and (m := TOP.match(line)):
            if m.group(4) is None:  # no thread named: the engine's own
                calls.append((float(m.group(1)), float(m.group(2)), m.group(3)))
        elif label and not line.startswith(" "):
            yield label, calls
            label = None
    if label:
        yield label, calls


def links(calls) -> dict[str, float]:
    out, routes, drains = {}, 0, 0
    for k, (t, d, name) in enumerate(calls):
        if name == "store.stage_table" and k and calls[k - 1][2] == "store.finish_step":
            routes += 1
            out[f"b{routes} wait done -> route"] = t - sum(calls[k - 1][:2])
        elif name in LOOKS:
            begun = next((c for c in calls[k + 1:] if c[2] == "store.begin_step"), None)
            if begun is not None:
                drains = min(drains + 1, routes)
                out[f"b{drains} drain -> stop begins"] = begun[0] - t
        elif name == "ProofRecorder.__enter__":
            out["proof's baseline"] = d
    return out


def main() -> int:
    sets: dict[str, dict[str, list[float]]] = {}
    for arg in sys.argv[1:]:
        name, _, files = arg.rpartition("=")
        for path in files.split(","):
            for label, calls in deployments(path):
                rows = sets.setdefault(f"{name or files} {label}", {})
                for k, v in links(calls).items():
                    rows.setdefault(k, []).append(v)
    if not sets:
        print(__doc__)
        return 2
    for label, rows in sets.items():
        print(f"{label}:")
        for k, v in sorted(rows.items()):
            print(f"  {k:26s} {statistics.median(v):6.1f}  ({' '.join(f'{x:.1f}' for x in v)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
