"""What the service's owner costs a host (zerodown/hosts/owner.py, run by the agent in the
pre-flight batch): the check of a deployment by the controller recorded already (a read:
every deployment after the first), and a first claim, a call of its own once every host
was found ready (the record written whole: temp file, fsync, rename, fsync of the folder;
preceded here by the release that `down` makes), and the guard the agent adds to every
change it is asked for (agent.py `owned`: other_than, a read of the record), beside the
whole answer of such a change (a `drop` of a name not recorded: the agent's JSON, the
guard, the instance registry read under its lock). A folder on this machine's disk
(default /var/tmp: /tmp may be memory).

    .venv/bin/python benchmarks/owner_claim.py
    .venv/bin/python benchmarks/owner_claim.py --dir /srv --rounds 5000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.hosts import agent  # noqa: E402
from zerodown.hosts.owner import other_than, owner  # noqa: E402

ME = {"id": "a" * 32, "where": "ana@laptop:/home/ana/shop/.zerodown"}


def timed(call, rounds: int) -> tuple[float, float]:
    """(median, p90) in ms."""
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1e3)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.9)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/var/tmp")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        owner(folder, ME, "claim")
        steady = timed(lambda: owner(folder, ME, "check"), args.rounds)
        guard = timed(lambda: other_than(folder, ME["id"]), args.rounds)
        drop = json.dumps({"op": "owned", "args": [folder, ME["id"], "table", ["drop", "x"]]})
        change = timed(lambda: agent.answer(drop), args.rounds)
        first = timed(lambda: (owner(folder, ME, "release"), owner(folder, ME, "claim")),
                      max(1, args.rounds // 10))
    print(f"check, this controller's already: median {steady[0]:.3f} ms, p90 {steady[1]:.3f} ms")
    print(f"guard of a change (other_than):    median {guard[0]:.3f} ms, p90 {guard[1]:.3f} ms")
    print(f"a change's whole answer (drop):    median {change[0]:.3f} ms, p90 {change[1]:.3f} ms")
    print(f"release + first claim (written):   median {first[0]:.3f} ms, p90 {first[1]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
