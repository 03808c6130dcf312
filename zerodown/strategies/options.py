"""Strategy parameters in zerodown.yaml: the `strategy:` section and what it parses into.

They live beside the planners that read them; zerodown.config re-exports
them. Parsing follows schema.py: every problem is reported with its key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from zerodown import linear_regex
from zerodown.model import Sticky
from zerodown.schema import (Amount, Invalid, Kind, address, amount, boolean, duration, enum,
                             integer, number, optional, shown, suggest, text, ENV_NAME, TOKEN)
from zerodown.schema_sections import Context, Section, join, list_of, nested
from zerodown.strategies.shadow_options import SHADOW, ShadowConfig, ShadowStep, parse_shadow


@dataclass(frozen=True)
class AnalysisConfig:
    """Judge a revision's metrics (zerodown/analysis/).

    Absolute thresholds (success_rate, latency_p99) and thresholds against
    the stable revision (max_success_rate_drop, max_latency_ratio).
    method "sequential" (default): a sequential test on every poll that fails
    as soon as the revision is clearly worse, passes once it is clearly within
    the thresholds, and fails a revision that is just within them with a
    chance of at most max_false_alarm; undecided after max_duration, it is
    inconclusive. method "fixed": `count` measurements every `interval`, each
    failed by a point estimate past a threshold, `failure_limit` tolerated
    (Flagger's shape). Fewer than min_requests makes it inconclusive, not failed.
    An inconclusive verdict pauses the deployment while no user is on the new
    revision (a preview, a canary at 0%); once users are (a weight), it aborts:
    nobody is left on a revision that was not shown to be good.
    """

    interval: float = 10.0
    count: int = 3
    min_requests: int = 10
    success_rate: float | None = None  # at least, 0..1
    latency_p99: float | None = None  # at most, seconds
    max_success_rate_drop: float | None = None  # below the stable revision's, 0..1
    max_latency_ratio: float | None = None  # p99 at most this times the stable revision's
    failure_limit: int = 0  # failed measurements tolerated
    method: str = "sequential"  # or "fixed"
    max_false_alarm: float = 0.01  # sequential: chance of failing a revision within thresholds
    max_duration: float | None = None  # sequential: undecided after this; None: interval * count
    unanswered_after: float = 10.0  # a request unanswered this long counts as failed (sequential)
    on_inconclusive: str = "pause"  # undecided at max_duration: stop (pause, or abort if users
    # are on the new revision), or wait on for a verdict
    prometheus: str | None = None  # read metrics from this Prometheus (URL), not the proxy
    query: str | None = None  # PromQL with {service} {revision}, measured every interval
    query_max: float | None = None  # the query's value must stay at most this
    query_min: float | None = None  # ... and at least this
    prometheus_token_env: str | None = None  # a bearer token from this controller variable
    prometheus_token_file: str | None = None  # ... or from this file (relative to zerodown.yaml)
    # PromQL with {service} {revision} for "requests", "failures" (counters) and "latency"
    # (histogram buckets by le), when the exporter is not the embedded proxy's /metrics
    prometheus_templates: dict[str, str] | None = None
    # Not a key of `analysis:`: a shadow step's check (its max_diff_rate), judged by the same
    # sequential test over the shadow's compared and differing copies (analysis/judge.py).
    max_diff_rate: float | None = None


@dataclass(frozen=True)
class MatchRule:
    """Requests matching this go to the new revision whatever the weights (A/B)."""

    header: str | None = None
    cookie: str | None = None
    equals: str | None = None
    regex: str | None = None


@dataclass(frozen=True)
class WeightStep:
    weight: int


@dataclass(frozen=True)
class PauseStep:
    duration: float | None = None  # None: until someone resumes or promotes
    timeout: float | None = None  # a manual pause ends by itself after this ...
    then: str = "abort"  # ... with abort | promote


@dataclass(frozen=True)
class AnalysisStep:
    analysis: AnalysisConfig


@dataclass(frozen=True)
class StrategyConfig:
    kind: ClassVar[str]


@dataclass(frozen=True)
class InPlaceStrategy(StrategyConfig):
    kind: ClassVar[str] = "in-place"
    batch_size: Amount = Amount(1)
    batch_by: str = "count"  # "host": a batch is batch_size hosts' instances (runtime: ssh)


@dataclass(frozen=True)
class RollingStrategy(StrategyConfig):
    kind: ClassVar[str] = "rolling"
    max_surge: Amount = Amount(1)
    max_unavailable: Amount = Amount(0)
    # runtime: ssh only. "host": batch_size hosts at a time, each replaced whole before the
    # next; max_surge_per_host: at most this many more instances on one host than it ran.
    batch_by: str = "count"
    batch_size: Amount = Amount(1)
    max_surge_per_host: int | None = None


@dataclass(frozen=True)
class BlueGreenStrategy(StrategyConfig):
    kind: ClassVar[str] = "blue-green"
    auto_promote: bool = True
    scale_down_delay: float = 30.0  # blue stays up this long for an instant rollback
    keep_previous: bool = False
    preview_header: str | None = "X-Zerodown-Preview"  # requests with it set to 1 reach green
    preview_listen: str | None = None
    pre_promotion_analysis: AnalysisConfig | None = None
    post_promotion_analysis: AnalysisConfig | None = None
    pre_promotion_shadow: ShadowConfig | None = None  # users' requests copied to green first
    # With auto_promote false: the pause before the switch ends by itself after this, with
    # pause_then (abort | promote), as a canary's {pause: {timeout, then}} does.
    pause_timeout: float | None = None
    pause_then: str = "abort"


@dataclass(frozen=True)
class CanaryStrategy(StrategyConfig):
    kind: ClassVar[str] = "canary"
    steps: tuple[WeightStep | PauseStep | AnalysisStep | ShadowStep, ...] = ()
    canary_instances: Amount | None = None  # None: enough for the largest weight
    match: tuple[MatchRule, ...] = ()
    sticky: Sticky | None = None
    analysis: AnalysisConfig | None = None  # background analysis through every step
    preview_header: str | None = None  # set to 1: reaches the canary from its start, at 0% too


@dataclass(frozen=True)
class ABTestStrategy(StrategyConfig):
    """A/B test: `split`% of users (sticky cohorts) on the new revision until a person
    decides: `zerodown promote` makes it everyone's, `zerodown abort` takes it away."""

    kind: ClassVar[str] = "ab-test"
    split: int = 50
    # "_", not "-": nginx reads a cookie only by a name of letters, digits and _
    sticky: Sticky = Sticky("cookie", "zerodown_ab", 30 * 86400)
    match: tuple[MatchRule, ...] = ()
    pause_timeout: float | None = None  # the hold ends by itself after this ...
    pause_then: str = "abort"  # ... with abort | promote
    canary_instances: Amount | None = None


# --- sections -----------------------------------------------------------

_THRESHOLDS = ("success_rate", "latency_p99", "max_success_rate_drop", "max_latency_ratio")


def _real(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Invalid(f"must be a number, got {shown(v)}")
    return float(v)


PROMETHEUS_TEMPLATES = ("requests", "failures", "latency")  # analysis/sources.py TEMPLATES
_PROMETHEUS_SETTINGS = ("prometheus_token_env", "prometheus_token_file", "prometheus_templates")


def _templates(v: Any) -> dict[str, str]:
    if not isinstance(v, dict):
        raise Invalid(f"must be a mapping of {', '.join(PROMETHEUS_TEMPLATES)} to PromQL, "
                      f"got {shown(v)}")
    for name, promql in v.items():
        if name not in PROMETHEUS_TEMPLATES:
            raise Invalid(f"unknown template {shown(name)}"
                          f"{suggest(str(name), list(PROMETHEUS_TEMPLATES))}")
        text().parse(promql)
    return dict(v)


def _analysis_problem(a: AnalysisConfig) -> str | None:
    if a.query is None and (a.query_max is not None or a.query_min is not None):
        return "query_max and query_min bound a query: add query (PromQL)"
    if a.query is not None and a.query_max is None and a.query_min is None:
        return "query needs query_max or query_min: the value it must stay under or over"
    if a.query is not None and a.prometheus is None:
        return "query needs prometheus: the URL of the Prometheus to ask, e.g. http://127.0.0.1:9090"
    settings = [k for k in _PROMETHEUS_SETTINGS if getattr(a, k) is not None]
    if settings and a.prometheus is None:
        return f"{settings[0]} needs prometheus: the URL of the Prometheus it applies to"
    if a.prometheus_token_env is not None and a.prometheus_token_file is not None:
        return "prometheus_token_env and prometheus_token_file: one token source, not both"
    if a.query is None and all(getattr(a, k) is None for k in _THRESHOLDS):
        return ("needs at least one threshold: " + ", ".join(_THRESHOLDS[:-1]) + " or "
                + _THRESHOLDS[-1])
    return None


ANALYSIS = Section(AnalysisConfig, {
    "interval": duration(), "count": integer(1, 1000), "min_requests": integer(0),
    "success_rate": optional(number(0, 1)), "latency_p99": optional(duration()),
    "max_success_rate_drop": optional(number(0, 1)), "max_latency_ratio": optional(number(1)),
    "failure_limit": integer(0), "method": enum("sequential", "fixed"),
    "max_false_alarm": number(0.000001, 0.5), "max_duration": optional(duration()),
    "unanswered_after": duration(),
    "on_inconclusive": enum("pause", "wait"),
    "prometheus": optional(text(r"^https?://\S+$", "an http:// URL, e.g. http://127.0.0.1:9090")),
    "query": optional(text()), "query_max": optional(Kind(_real, {"type": "number"})),
    "query_min": optional(Kind(_real, {"type": "number"})),
    "prometheus_token_env": optional(text(ENV_NAME.pattern, "an environment variable name")),
    "prometheus_token_file": optional(text()),
    "prometheus_templates": optional(Kind(_templates, {
        "type": "object", "additionalProperties": False,
        "properties": {k: {"type": "string", "minLength": 1} for k in PROMETHEUS_TEMPLATES}}))},
    "metrics thresholds that judge a revision", check=_analysis_problem)
STICKY = Section(Sticky, {"mode": enum("cookie", "header", "cookie-hash"),
                          "name": text(TOKEN, "a header or cookie name"), "max_age": integer(0)})


def _regex(v: Any) -> str:
    try:
        return linear_regex.check(text().parse(v))
    except linear_regex.RegexError as e:
        raise Invalid(f"{shown(v)} is not a valid rule regex: {e}") from None


MATCH = Section(MatchRule, {"header": optional(text(TOKEN, "a header name")),
                            "cookie": optional(text(TOKEN, "a cookie name")),
                            "equals": optional(text()),
                            "regex": optional(Kind(_regex, {"type": "string", "format": "regex"}))},
                check=lambda r: None if (r.header is None) != (r.cookie is None)
                and (r.equals is None) != (r.regex is None)
                else "needs exactly one of header/cookie and one of equals/regex")
_RULES: dict[type[StrategyConfig], dict[str, Any]] = {
    InPlaceStrategy: {"batch_size": amount(1), "batch_by": enum("count", "host")},
    RollingStrategy: {"max_surge": amount(), "max_unavailable": amount(),
                      "batch_by": enum("count", "host"), "batch_size": amount(1),
                      "max_surge_per_host": optional(integer(1, 1000))},
    BlueGreenStrategy: {"auto_promote": boolean(), "scale_down_delay": duration(),
                        "keep_previous": boolean(),
                        "preview_header": optional(text(TOKEN, "a header name")),
                        "preview_listen": optional(address()),
                        "pre_promotion_analysis": ANALYSIS, "post_promotion_analysis": ANALYSIS,
                        "pre_promotion_shadow": SHADOW,
                        "pause_timeout": None, "pause_then": None},  # see below
    CanaryStrategy: {"steps": None, "canary_instances": optional(amount(1)),  # steps: see below
                     "match": None, "sticky": STICKY, "analysis": ANALYSIS,
                     "preview_header": optional(text(TOKEN, "a header name"))},
    ABTestStrategy: {"split": integer(1, 99), "sticky": STICKY, "match": None,
                     "canary_instances": optional(amount(1)),
                     "pause_timeout": None, "pause_then": None},
}
STRATEGIES: dict[str, type[StrategyConfig]] = {cls.kind: cls for cls in _RULES}


PAUSE_THEN = ("abort", "promote")
for _cls in (BlueGreenStrategy, ABTestStrategy):
    _RULES[_cls]["pause_timeout"] = optional(duration())
    _RULES[_cls]["pause_then"] = enum(*PAUSE_THEN)


def _pause(ctx: Context, v: Any, path: str) -> PauseStep:
    """`{pause: 30s}`, `{pause: {}}` (until resumed), `{pause: {timeout: 1h, then: promote}}`."""
    if not isinstance(v, dict):
        return PauseStep(optional(duration()).parse(v))
    Section(PauseStep, {"duration": None, "timeout": None, "then": None}).unknown_keys(ctx, v, path)
    step = PauseStep()
    for key, kind in (("duration", optional(duration())), ("timeout", optional(duration())),
                      ("then", enum(*PAUSE_THEN))):
        if key in v:
            try:
                step = replace(step, **{key: kind.parse(v[key])})
            except Invalid as e:
                ctx.error(join(path, key), str(e))
    if step.duration is not None and step.timeout is not None:
        ctx.error(join(path, "timeout"), "is for a pause held until resumed; a pause with a "
                                         "duration ends by itself (drop one of them)")
    elif "then" in v and step.timeout is None:
        ctx.error(join(path, "then"), "needs timeout: what happens when the pause times out")
    return step


_STEP_KINDS = {"weight": lambda ctx, v, p: WeightStep(integer(0, 100).parse(v)),
               "pause": _pause, "analysis": lambda ctx, v, p: AnalysisStep(ANALYSIS(ctx, v, p)),
               "shadow": lambda ctx, v, p: ShadowStep(parse_shadow(ctx, v, p))}


def _step(ctx: Context, item: Any, path: str):
    if not (isinstance(item, dict) and len(item) == 1):
        raise Invalid(f'must be one of {{weight: N}}, {{pause: 30s}}, {{pause: {{}}}}, '
                      f'{{analysis: {{...}}}} or {{shadow: {{...}}}}, got {shown(item)}')
    (key, value), = item.items()
    if key not in _STEP_KINDS:
        raise Invalid(f"unknown step {shown(key)}{suggest(key, list(_STEP_KINDS))}")
    try:
        return _STEP_KINDS[key](ctx, value, join(path, key))
    except Invalid as e:
        ctx.error(join(path, key), str(e))


_STEP_SCHEMA = {"oneOf": [
    {"type": "object", "properties": {"weight": {"type": "integer", "minimum": 0, "maximum": 100}},
     "required": ["weight"], "additionalProperties": False},
    {"type": "object", "properties": {"pause": {"anyOf": [
        duration().schema, {"type": "null"},
        {"type": "object", "additionalProperties": False, "properties": {
            "duration": optional(duration()).schema, "timeout": optional(duration()).schema,
            "then": {"enum": list(PAUSE_THEN)}}}]}},
     "required": ["pause"], "additionalProperties": False},
    {"type": "object", "properties": {"analysis": ANALYSIS.schema},
     "required": ["analysis"], "additionalProperties": False},
    {"type": "object", "properties": {"shadow": SHADOW.schema},
     "required": ["shadow"], "additionalProperties": False}]}
_RULES[CanaryStrategy]["steps"] = list_of(_step, _STEP_SCHEMA)
_RULES[CanaryStrategy]["match"] = _RULES[ABTestStrategy]["match"] = list_of(MATCH, MATCH.schema)
_SECTIONS = {cls: Section(cls, rules) for cls, rules in _RULES.items()}


def parse_strategy(ctx: Context, data: Any, path: str) -> StrategyConfig:
    if isinstance(data, str):  # `strategy: in-place` is short for {kind: in-place}
        data = {"kind": data}
    if not isinstance(data, dict):
        raise Invalid(f"must be a mapping with a kind ({', '.join(STRATEGIES)}), got {shown(data)}")
    try:  # no kind: rolling, the default strategy
        cls = STRATEGIES[enum(*STRATEGIES).parse(data.get("kind", RollingStrategy.kind))]
    except Invalid as e:
        ctx.error(join(path, "kind"), str(e))
        return RollingStrategy()
    section = _SECTIONS[cls]
    for key in data:
        other = next((c.kind for c, r in _RULES.items() if key in r and c is not cls), None)
        if key not in section.fields and key != "kind" and other:
            ctx.error(join(path, key), f"is an option of strategy kind {other}, not {cls.kind}")
    section.unknown_keys(ctx, {k: v for k, v in data.items()
                               if not any(k in r for r in _RULES.values())}, path, also=("kind",))
    value = cls(**section.values(ctx, data, path))
    _check_pause_timeout(ctx, value, data, path)
    return value


def _check_pause_timeout(ctx: Context, value: StrategyConfig, data: dict, path: str) -> None:
    """pause_timeout/pause_then of the manual pause blue/green and A/B tests hold."""
    if "pause_then" in data and getattr(value, "pause_timeout", None) is None:
        ctx.error(join(path, "pause_then"), "needs pause_timeout: what happens when the pause "
                                            "times out")
    if (isinstance(value, BlueGreenStrategy) and value.auto_promote
            and value.pause_timeout is not None):
        ctx.error(join(path, "pause_timeout"), "is for the pause of auto_promote: false "
                                               "(with auto_promote the switch does not wait)")


parse_strategy = nested(parse_strategy, {"anyOf": [
    {**s.schema, "properties": {"kind": {"const": cls.kind}, **s.schema["properties"]}}
    for cls, s in _SECTIONS.items()]})


def check_strategy(ctx: Context, s: StrategyConfig, data: dict, bad: set) -> None:
    """Rules across keys of `strategy:`, skipped where a key is already wrong."""
    if (isinstance(s, RollingStrategy) and s.max_surge.value == 0 and s.max_unavailable.value == 0
            and not bad & {"strategy.max_surge", "strategy.max_unavailable"}):
        ctx.error("strategy.max_surge", "max_surge and max_unavailable cannot both be 0 "
                  "(nothing could ever be replaced); set max_surge: 1 or max_unavailable: 1")
    if (isinstance(s, RollingStrategy) and "batch_size" in data and s.batch_by != "host"
            and "strategy.batch_size" not in bad):
        ctx.error("strategy.batch_size", "counts hosts replaced at once with batch_by: host "
                  "(runtime: ssh); otherwise rolling's pace is max_surge and max_unavailable")
    if isinstance(s, BlueGreenStrategy) and s.preview_listen is not None:
        ctx.error("strategy.preview_listen", "a second listener for the preview is not supported "
                  "yet; use preview_header (requests with that header set to 1 reach green)")
    if isinstance(s, CanaryStrategy) and not s.steps and "steps" not in data:
        ctx.error("strategy.steps", 'is required for canary, e.g. [{weight: 10}, {pause: {}}]')
    if isinstance(s, CanaryStrategy):
        _check_shadow_steps(ctx, s)


def _check_shadow_steps(ctx: Context, s: CanaryStrategy) -> None:
    """A shadow compares the new revision before any user reaches it: before the first
    weight above 0 (the planner holds the match rules back while it runs)."""
    weighted = False
    for i, step in enumerate(s.steps):
        weighted = weighted or (isinstance(step, WeightStep) and step.weight > 0)
        if isinstance(step, ShadowStep) and weighted:
            ctx.error(f"strategy.steps[{i}].shadow", "comes before the first {weight: N} above 0: "
                      "a shadow tests the new revision before any user reaches it (move it "
                      "first, e.g. steps: [{shadow: {duration: 60s}}, {weight: 10}, ...])")
