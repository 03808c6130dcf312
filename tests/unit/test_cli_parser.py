"""The command line's parser: what it accepts matches the config, and it stays light."""

from __future__ import annotations

import subprocess
import sys

from zerodown.commands import STRATEGY_KINDS
from zerodown.strategies.options import STRATEGIES

HEAVY = ("yaml", "sqlite3", "asyncio", "zerodown.engine", "zerodown.strategies",
         "zerodown.controller", "zerodown.config")


def test_strategy_kinds_are_the_configs():
    assert STRATEGY_KINDS == tuple(STRATEGIES)


def test_status_imports_nothing_heavy():
    """`zerodown status` parses its command and asks the controller: no yaml, sqlite,
    asyncio or planner is imported on the way (each costs tens of milliseconds)."""
    code = ("import sys\nfrom zerodown.commands import build_parser, resolve\n"
            "args = build_parser().parse_args(['status', '--json'])\nresolve(args.func)\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
