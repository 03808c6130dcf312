"""How long the planners take on a big fleet (pure code: no host, no process).

    .venv/bin/python benchmarks/fleet_plan.py                     # 1,000 on 50, 2,000 on 100
    .venv/bin/python benchmarks/fleet_plan.py --sizes 1000x50 4000x50 --rounds 3
    .venv/bin/python benchmarks/fleet_plan.py --recorded --moved 1   # hosts recorded

Per size and strategy: the best of `--rounds` runs of `strategies.plan_for` (with the
refusal of a plan that routes nothing: what `zerodown plan` and a deployment run),
replacing every instance of revision 1 by revision 2, slot i on host i mod hosts.
`--recorded`: each instance's host is recorded, as Store.service_state hands it over
(ServiceState.runs_on); `--moved K`: ... on the list of K hosts fewer (the last K taken
off since: their instances are a batch of their own at the end).
Twice the instances should take about twice the time (n log n at worst).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.model import InstanceRef, Slot  # noqa: E402
from zerodown.plan import ServiceState, Target  # noqa: E402
from zerodown.schema import Amount  # noqa: E402
from zerodown.strategies import plan_for  # noqa: E402
from zerodown.strategies.options import (  # noqa: E402
    InPlaceStrategy, RollingStrategy)


def amount(text: str) -> Amount:
    return Amount(int(text[:-1]), True) if text.endswith("%") else Amount(int(text), False)


STRATEGIES = {
    "rolling surge 1": RollingStrategy(amount("1"), amount("0")),
    "rolling surge 10%": RollingStrategy(amount("10%"), amount("0")),
    "rolling surge 25% unavailable 10% per-host 2":
        RollingStrategy(amount("25%"), amount("10%"), max_surge_per_host=2),
    "rolling batch_by host, surge 1 unavailable 1":
        RollingStrategy(amount("1"), amount("1"), batch_by="host", batch_size=amount("1")),
    "in-place batch_by host": InPlaceStrategy(amount("1"), batch_by="host"),
    "in-place batch 10%": InPlaceStrategy(amount("10%")),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x50", "2000x100"],
                        help="INSTANCESxHOSTS")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--recorded", action="store_true",
                        help="record each instance's host (ServiceState.runs_on)")
    parser.add_argument("--moved", type=int, default=0, metavar="K",
                        help="with --recorded: today's list lacks the last K hosts")
    args = parser.parse_args()
    for size in args.sizes:
        n, h = (int(x) for x in size.split("x"))
        routed = tuple(InstanceRef(1, Slot(i)) for i in range(n))
        recorded = {r: f"app{r.slot.index % h}" for r in routed} if args.recorded else {}
        state = ServiceState("shop", 1, routed, runs_on=recorded)
        target = Target(2, n, tuple(f"app{i}" for i in range(h - args.moved)))
        for name, strategy in STRATEGIES.items():
            best, steps = float("inf"), 0
            for _ in range(args.rounds):
                started = time.perf_counter()
                plan = plan_for(strategy, state, target)
                best = min(best, time.perf_counter() - started)
                steps = len(plan.steps)
            print(f"{n:>6} on {h:>3} hosts  {name:<46} {best:7.2f} s  {steps:>5} steps",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
