"""docs/json.md's values of a deployment's keys are those `status --json` and `history
--json` carry: its `strategy` showed `rolling max_surge=1 max_unavailable=0` (what `plan`
prints), where a deployment has the strategy's kind (`rolling`); its `phase` and `plan`
named only some of the values."""

from __future__ import annotations

import re
from pathlib import Path

from zerodown.strategies.options import STRATEGIES

DOC = (Path(__file__).parents[2] / "docs" / "json.md").read_text()


def deployment_row(key: str) -> str:
    """The row of `key` in the table of a deployment's keys."""
    deployment = DOC.split("| `id` | integer | the deployment's id |", 1)[1].split("\n\n", 1)[0]
    return next(line for line in deployment.splitlines() if line.startswith(f"| `{key}` |"))


def test_a_deployments_strategy_is_documented_as_a_kind():
    said = deployment_row("strategy").split("|")[3]
    examples = set(re.findall(r"`([^`]+)`", said.split("(", 1)[0]))
    assert examples and examples <= set(STRATEGIES), (examples, sorted(STRATEGIES))


def test_every_phase_and_plan_kind_is_documented():
    """The `phase` row listed eight of the ten phases (not `promoting`, `rolling_back`), the
    `plan` row one of the three plans a deployment switches to."""
    from zerodown.engine.lifecycle import PLAN_OF, Phase
    phases, plans = deployment_row("phase"), deployment_row("plan")
    assert not [p.value for p in Phase if f"`{p.value}`" not in phases], phases
    assert not [k for k in ("deploy", *PLAN_OF.values()) if f"`{k}`" not in plans], plans
