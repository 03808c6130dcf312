"""The chaos suite: faults at random (seeded) moments under a real load, every failed
request counted and printed per fault (run with -s to see the table).

A few of each fault, so it stays fast; benchmarks/chaos_bench.py runs as many as you
like with the same moves (tests/e2e/chaos.py).
"""

from __future__ import annotations

import os
import random

from tests.e2e.chaos import HEADER, Chaos, filled, small_disk
from tests.e2e.stack import Stack, write_config
from zerodown.engine.lifecycle import Phase

SEED = int(os.environ.get("ZERODOWN_CHAOS_SEED", "11"))


def test_faults_under_load_fail_no_request_and_every_deployment_ends(tmp_path):
    rng = random.Random(SEED)
    with small_disk(tmp_path / "disk") as real_disk:
        stack = Stack(write_config(tmp_path, instances=2), tmp_path / "state",
                      db=tmp_path / "disk" / "zerodown.db")
        try:
            assert stack.deploy("v1") is Phase.SUCCEEDED
            chaos = Chaos(stack, rng)
            print(f"\nchaos (seed {SEED})\n{HEADER}")
            # the full disk is a real one: a tmpfs this test mounts (as root)
            chaos.round((lambda: filled(tmp_path / "disk")) if real_disk else None)
            print(chaos.totals())
        finally:
            stack.close()
    assert real_disk or os.geteuid() != 0
    for out in chaos.outcomes:
        assert (out.phase, out.failed) == ("succeeded", 0), out.line()
        assert out.requests > 0
