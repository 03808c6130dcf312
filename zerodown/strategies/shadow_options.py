"""A shadow in zerodown.yaml: a canary's `{shadow: {...}}` step, blue/green's
`pre_promotion_shadow: {...}` (issue 15, part 2).

    {shadow: {percent: 100, duration: 60s, methods: [GET, HEAD], headers: [ETag],
              ignore: ["$.time", "$.request_id"], body: json, max_diff_rate: 0.001}}

The new revision's instances start, users stay on the stable revision, and a share
of users' requests is copied to the new one; its answers are compared with stable's
(zerodown/shadow/). `max_diff_rate` makes the share of differing answers a check of
the same sequential test as an analysis's (zerodown/analysis/checks.py DiffRate).
Only safe methods are copied unless the user lists others: a copied POST is a second
POST to the new revision's database, so validate and plan say so (warnings()).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from zerodown.schema import (Invalid, Kind, duration, enum, integer, number, optional, shown, text,
                             TOKEN)
from zerodown.schema_sections import Context, Section, list_of
from zerodown.shadow.diff import PathError, parse_path

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
METHODS = (*SAFE_METHODS, "POST", "PUT", "PATCH", "DELETE")
BODIES = ("json", "exact", "none")


@dataclass(frozen=True)
class ShadowConfig:
    percent: float = 100.0  # of the matching requests, copied
    duration: float = 60.0  # how long copies are compared at most
    methods: tuple[str, ...] = ("GET", "HEAD")
    headers: tuple[str, ...] = ()  # response headers compared (by name), beside the status
    ignore: tuple[str, ...] = ()  # JSON paths left out of the body's comparison
    body: str = "json"  # json (exact when a side is not JSON) | exact | none
    max_diff_rate: float | None = None  # the check: at most this share of copies differ
    max_false_alarm: float = 0.01  # the check's chance of failing a revision within it
    min_compared: int = 10  # fewer compared copies than this: undecided, never passed
    timeout: float = 2.0  # a copy the new revision has not answered in this is dropped

    @property
    def unsafe(self) -> tuple[str, ...]:
        return tuple(m for m in self.methods if m not in SAFE_METHODS)


@dataclass(frozen=True)
class ShadowStep:
    shadow: ShadowConfig


def _method(v: Any) -> str:
    if v not in METHODS:
        raise Invalid(f"must be one of {', '.join(METHODS)}, got {shown(v)}")
    return v


def _path(v: Any) -> str:
    try:
        parse_path(text().parse(v))
    except PathError as e:
        raise Invalid(str(e)) from None
    return v


def _strings(kind: Kind, schema: dict):
    return list_of(lambda ctx, v, path: kind.parse(v), schema)


def _problem(s: ShadowConfig) -> str | None:
    if not s.methods:
        return f"methods: at least one method, e.g. [GET, HEAD] (allowed: {', '.join(METHODS)})"
    twice = sorted({m for m in s.methods if s.methods.count(m) > 1})
    return f"methods: {', '.join(twice)} listed twice" if twice else None


SHADOW = Section(ShadowConfig, {
    "percent": number(0.01, 100), "duration": duration(1, 24 * 3600),
    "methods": _strings(Kind(_method, {}), {"enum": list(METHODS)}),
    "headers": _strings(text(TOKEN, "a header name"), {"type": "string", "pattern": TOKEN}),
    "ignore": _strings(Kind(_path, {}), {"type": "string", "pattern": r"^\$"}),
    "body": enum(*BODIES), "max_diff_rate": optional(number(0.000001, 1)),
    "max_false_alarm": number(0.000001, 0.5), "min_compared": integer(1),
    "timeout": duration(0.01, 3600)},
    "copies of users' requests to the new revision before any user reaches it, its answers "
    "compared with the stable revision's", check=_problem)


def parse_shadow(ctx: Context, v: Any, path: str) -> ShadowConfig:
    return SHADOW(ctx, v, path)


def warnings(strategy: Any) -> list[str]:
    """What validate and plan say about a strategy's shadows: unsafe methods copied."""
    out = []
    for key, shadow in shadows(strategy):
        if shadow.unsafe:
            out.append(f"warning: {key}.methods copies {', '.join(shadow.unsafe)} requests to the "
                       f"new revision: each is sent twice (to stable and to the new revision), "
                       f"with whatever it changes (a second order, a second payment) -- list only "
                       f"{', '.join(SAFE_METHODS)} unless the new revision writes nowhere shared")
    return out


def shadows(strategy: Any) -> list[tuple[str, ShadowConfig]]:
    """(config key, shadow) of every shadow a strategy asks for."""
    found = [(f"strategy.steps[{i}].shadow", s.shadow)
             for i, s in enumerate(getattr(strategy, "steps", ())) if isinstance(s, ShadowStep)]
    pre = getattr(strategy, "pre_promotion_shadow", None)
    return found + ([("strategy.pre_promotion_shadow", pre)] if pre is not None else [])


def spec_of(shadow: ShadowConfig) -> dict:
    """A plan step's spec: the shadow's fields as JSON values."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(shadow).items()}


def config_of(spec: Mapping[str, Any]) -> ShadowConfig:
    """A Shadow step's spec back as the dataclass (unknown fields of a newer zerodown dropped)."""
    known = ShadowConfig.__dataclass_fields__
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in spec.items() if k in known}
    return ShadowConfig(**fields)

