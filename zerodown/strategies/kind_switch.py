"""`--strategy KIND` or `--set strategy.kind=KIND` over a file whose strategy is another
kind: the file's options the new kind has too are kept, the others dropped (and named,
so the user is told), instead of failing on a leftover `max_surge` of a rolling file."""

from __future__ import annotations

import json
from typing import Any, Sequence

from zerodown.strategies.options import _RULES, STRATEGIES


def options_of(kind: str) -> set[str]:
    return set(_RULES[STRATEGIES[kind]])


def switch_kind(section: Any, kind: str) -> tuple[dict, tuple[str, ...]]:
    """(the strategy section as `kind`, the names of the options dropped)."""
    if not isinstance(section, dict):  # `strategy: in-place`, or none: no options to carry
        return {"kind": kind}, ()
    allowed = options_of(kind)
    if kind == "rolling" and section.get("batch_by") != "host":
        allowed.discard("batch_size")  # in-place's instances at once; rolling's hosts at once
    kept = {k: v for k, v in section.items() if k in allowed}
    dropped = tuple(k for k in section if k not in allowed and k != "kind")
    return {"kind": kind, **kept}, dropped


def kind_asked(strategy: str | None, settings: Sequence[str]) -> str | None:
    """The kind asked for: the last `--set strategy.kind=...` (it comes after --strategy), or
    --strategy. A kind zerodown does not know is left for the config's own error."""
    kind = strategy
    for item in settings:
        key, _, value = item.partition("=")
        if key.strip() == "strategy.kind":
            kind = value.strip().strip("'\"")
    return kind if kind in STRATEGIES else None


def strategy_overrides(section: Any, current: str, strategy: str | None,
                       settings: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
    """(the settings to apply, the options dropped): --strategy then --set, in that order, so
    `--set strategy.batch_size=2` refines the kind; the file's section as it is when the kind
    asked is the one it has."""
    kind = kind_asked(strategy, settings)
    if kind in (None, current):
        return list(settings), ()
    moved, dropped = switch_kind(section, kind)
    return [f"strategy={json.dumps(moved)}", *settings], dropped


def dropped_note(kind: str, previous: str, dropped: Sequence[str]) -> str:
    return (f"note: strategy {kind} instead of the file's {previous}: ignoring "
            f"{', '.join(dropped)} (not an option of {kind})")
