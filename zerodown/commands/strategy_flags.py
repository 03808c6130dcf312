"""Strategy options as short flags (`--steps "10,pause 30s,50"`, `--max-surge 2`), read into
`--set` settings; an error names the flag as the user typed it, not the setting made of it.
Pure and light: parsing a command imports no planner (tests/unit/test_cli_parser.py)."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

# flag → the strategy key it sets, and what the help says
FLAGS = {
    "max_surge": "rolling: instances started above the count (N or N%%)",
    "max_unavailable": "rolling: instances stopped below the count (N or N%%)",
    "batch_size": "in-place: instances replaced at once (N or N%%); with batch_by: host, hosts",
    "scale_down_delay": "blue-green: how long blue stays up after the switch, e.g. 10s",
    "split": "ab-test: percent of users on the new revision, e.g. 20",
}
_WEIGHT = re.compile(r"^(\d{1,3})%?$")


def steps(text: str) -> list[dict]:
    """`10,pause 30s,50` → [{weight: 10}, {pause: 30s}, {weight: 50}]; `pause` alone holds
    until `zerodown resume` or `promote`; `shadow 60s` is {shadow: {duration: 60s}} (its
    other keys, such as max_diff_rate, in zerodown.yaml or --set)."""
    parsed: list[dict[str, Any]] = []
    for n, item in enumerate(text.split(","), 1):
        item = item.strip()
        weight = _WEIGHT.match(item)
        words = item.split(None, 1)
        if weight:
            parsed.append({"weight": int(weight.group(1))})
        elif words[:1] == ["pause"]:
            parsed.append({"pause": words[1] if len(words) > 1 else {}})
        elif words[:1] == ["shadow"]:
            parsed.append({"shadow": {"duration": words[1]} if len(words) > 1 else {}})
        else:
            raise argparse.ArgumentTypeError(
                f'{text!r}: item {n} {item!r} is not a weight (10 or 10%), "pause" (until '
                'resumed), "pause 30s" or "shadow 60s"; an analysis step needs zerodown.yaml '
                'or --set')
    return parsed


def steps_text(text: str) -> str:
    steps(text)  # an error here is argparse's: `argument --steps: ...`, exit 2
    return text


def add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=steps_text, metavar="STEPS",
                   help='canary: its steps, e.g. "10,pause 30s,50,pause" (weights in percent; '
                        'a pause with no duration holds until resumed; "shadow 60s" first '
                        'compares copies of users\' requests before any weight)')
    for key, text in FLAGS.items():
        p.add_argument("--" + key.replace("_", "-"), dest=key, metavar="VALUE", help=text)


def settings(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """(--set items from the flags then --set itself, {item: what the user typed})."""
    made: dict[str, str] = {}
    if getattr(args, "steps", None) is not None:
        made[f"strategy.steps={json.dumps(steps(args.steps))}"] = f"--steps {args.steps!r}"
    for key in FLAGS:
        value = getattr(args, key, None)
        if value is not None:
            made[f"strategy.{key}={value}"] = f"--{key.replace('_', '-')} {value}"
    return [*made, *getattr(args, "set", [])], made
