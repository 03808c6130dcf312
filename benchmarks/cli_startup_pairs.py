"""A zerodown command of two trees in interleaved pairs: the process's CPU and its time
from fork to exit, as its user waits for it (the command's own start-up: imports, the
config's check, its request).

    .venv/bin/python benchmarks/cli_startup_pairs.py --before /work/wt/BEFORE \\
        -f zerodown.yaml --pairs 12 deploy '{v}' --detach
    .venv/bin/python benchmarks/cli_startup_pairs.py --before /work/wt/BEFORE \\
        -f zerodown.yaml --pairs 12 status --help

Both trees' commands ask one controller (started first by `zerodown up`, of either tree:
their API is the same); `{v}` in the arguments becomes a new version each run, and the
run waits for the deployment before it to end (untimed). Which tree goes first alternates
by pair. The commands read bytecode, as an installed zerodown does: the environment's
PYTHONDONTWRITEBYTECODE is dropped and the bytecode kept in a folder of its own
(PYTHONPYCACHEPREFIX), as fleet_cli_deploy.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENDED = (None, "succeeded", "failed", "rolled_back", "aborted")


def command(tree: str, file: str, env: dict, *args: str) -> tuple[float, float, str]:
    """(seconds fork -> exit, CPU seconds, output) of `zerodown -f FILE ARGS` of `tree`."""
    began = time.monotonic()
    # in the file's folder: `python -m` puts the working directory first on sys.path, and
    # run from a checkout it would import that checkout's zerodown, whatever PYTHONPATH says
    proc = subprocess.Popen([sys.executable, "-m", "zerodown", "-f", file, *args],
                            cwd=os.path.dirname(os.path.abspath(file)),
                            env=dict(env, PYTHONPATH=tree), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - began
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"zerodown {' '.join(args)} of {tree} exited {status}:\n{out}")
    return took, usage.ru_utime + usage.ru_stime, out


def settled(file: str, env: dict) -> None:
    """Back once the service has no deployment in progress."""
    while True:
        out = command(str(REPO), file, env, "status", "--json")[2]
        if (json.loads(out).get("deployment") or {}).get("phase") in ENDED:
            return
        time.sleep(0.1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="the other tree (a worktree of main)")
    p.add_argument("--after", default=str(REPO))
    p.add_argument("-f", "--file", default="zerodown.yaml")
    p.add_argument("--pairs", type=int, default=12)
    p.add_argument("args", nargs=argparse.REMAINDER)
    a = p.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="zd-pyc-")
    trees = {"before": a.before, "after": a.after}
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    version = int(time.time()) % 100000
    for i in range(a.pairs + 1):  # the first pair compiles the bytecode: not counted
        for name in ("before", "after") if i % 2 else ("after", "before"):
            version += 1
            settled(a.file, env)
            took, cpu, _ = command(trees[name], a.file, env,
                                   *(x.replace("{v}", f"v{version}") for x in a.args))
            if i:
                runs[name].append((took, cpu))
    for name, rows in runs.items():
        print(f"{name:6s} CPU ms {[round(c * 1000) for _, c in rows]} median "
              f"{statistics.median(c for _, c in rows) * 1000:.0f}; fork->exit ms "
              f"{[round(t * 1000) for t, _ in rows]} median "
              f"{statistics.median(t for t, _ in rows) * 1000:.0f}")
    pairs = list(zip(runs["before"], runs["after"]))
    print(f"after lower in {sum(b[1] > f[1] for b, f in pairs)}/{len(pairs)} pairs (CPU), "
          f"{sum(b[0] > f[0] for b, f in pairs)}/{len(pairs)} (fork->exit); paired "
          f"difference medians {statistics.median(b[1] - f[1] for b, f in pairs) * 1000:.0f} "
          f"ms CPU, {statistics.median(b[0] - f[0] for b, f in pairs) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
