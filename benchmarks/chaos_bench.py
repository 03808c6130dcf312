"""The chaos suite, longer: as many rounds of faults under load as you ask for.

    .venv/bin/python benchmarks/chaos_bench.py                  # 3 rounds, seed 1
    .venv/bin/python benchmarks/chaos_bench.py --rounds 10 --seed 7 --instances 4

Each round is one of each fault of tests/e2e/chaos.py on one stack (local
instances of the example app, the embedded proxy, SQLite): a controller SIGKILL
at a random step of each strategy (rolling, in-place, blue/green, canary), the
store's disk filled mid-deployment then freed and resumed (a tmpfs: needs root),
the store deleted between deployments and with the controller killed in the
middle of one. A load generator counts every response throughout; the table
says how many requests each fault saw and how many failed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # the controllers it kills import tests.e2e.stack from here

from tests.e2e.chaos import HEADER, Chaos, filled, small_disk  # noqa: E402
from tests.e2e.stack import Stack, write_config  # noqa: E402
from zerodown.engine.lifecycle import Phase  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--instances", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="zd-chaos-") as d:
        tmp = Path(d)
        with small_disk(tmp / "disk") as real_disk:
            stack = Stack(write_config(tmp, instances=args.instances), tmp / "state",
                          db=tmp / "disk" / "zerodown.db")
            try:
                assert stack.deploy("v1") is Phase.SUCCEEDED
                chaos = Chaos(stack, random.Random(args.seed))
                print(f"chaos: {args.rounds} rounds, seed {args.seed}, {args.instances} "
                      f"instances{'' if real_disk else ' (no tmpfs: disk full not run)'}")
                print(HEADER)
                for _ in range(args.rounds):
                    chaos.round((lambda: filled(tmp / "disk")) if real_disk else None)
            finally:
                stack.close()
    print()
    print(chaos.totals())
    bad = [o for o in chaos.outcomes if o.failed or o.phase != "succeeded"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
