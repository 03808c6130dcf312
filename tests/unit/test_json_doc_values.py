"""docs/json.md's examples of a deployment's `strategy` are values `status --json` and
`history --json` carry: it showed `rolling max_surge=1 max_unavailable=0` (what `plan`
prints), where a deployment has the strategy's kind (`rolling`)."""

from __future__ import annotations

import re
from pathlib import Path

from zerodown.strategies.options import STRATEGIES

DOC = (Path(__file__).parents[2] / "docs" / "json.md").read_text()


def test_a_deployments_strategy_is_documented_as_a_kind():
    deployment = DOC.split("| `id` | integer | the deployment's id |", 1)[1].split("\n\n", 1)[0]
    row = next(line for line in deployment.splitlines() if line.startswith("| `strategy` |"))
    said = row.split("|")[3]
    examples = set(re.findall(r"`([^`]+)`", said.split("(", 1)[0]))
    assert examples and examples <= set(STRATEGIES), (examples, sorted(STRATEGIES))
