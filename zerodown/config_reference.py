"""The reference of zerodown.yaml: words for every key, merged into the JSON Schema, and
docs/config.md rendered from that schema.

    schema = annotate(raw_schema)      # config.json_schema() does this: descriptions, examples,
                                       # router and runtime options per kind
    text = markdown(schema)            # docs/config.md (scripts/config_reference.py writes it)

Types, bounds, enums and defaults come from the parser's own schema (schema.py takes
defaults from the dataclasses); the words and examples come from config_words.py, keyed
by a *doc path* ("app.env", "strategy.max_surge", "analysis.success_rate").
tests/unit/test_config_reference.py fails when a key the parser accepts has no words,
when words name no key, and when the committed page differs from what this renders.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, Iterator

import yaml

from zerodown.config_checks import option_checks
from zerodown.config_model import ROUTER_COMMON
from zerodown.config_words import SHARED, WORDS
from zerodown.schema import duration

# Router and runtime options by kind come from each driver's own table of what it accepts;
# their types by name (an option two drivers take, `connect_timeout`, is of one type).
_DURATION = duration().schema  # rendered "duration", its default as `30s`
_STRING: dict = {"type": "string"}
_INTEGER: dict = {"type": "integer"}
OPTION_TYPES: dict[str, dict] = {
    "socket": _STRING, "backend": _STRING, "lanes": _INTEGER, "binary": _STRING,
    "workers": {"type": ["string", "integer"]}, "worker_connections": _INTEGER,
    "worker_shutdown_timeout": _DURATION, "keepalive_timeout": _DURATION,
    "keepalive_requests": _INTEGER, "upstream_keepalive": _INTEGER,
    "upstream_keepalive_timeout": _DURATION, "nginx": _STRING, "config": _STRING,
    "pid_file": _STRING, "main_config": _STRING, "metrics": _STRING,
    "metrics_token_env": _STRING, "python": _STRING, "host": _STRING,
    "http2_prior_knowledge": {"type": "boolean"}, "shared": _STRING,
    "hosts": {"type": "array"}, "path_prefix": _STRING,
    "strip_path_prefix": {"type": "boolean"}, "response_timeout": _DURATION,
    "connect_timeout": _DURATION, "queue_timeout": _DURATION,
    "max_conns_per_backend": _INTEGER, "body_timeout": _DURATION,
    # runtime: ssh
    "ssh_config": _STRING, "identity_file": _STRING, "known_hosts": _STRING,
    "instances_per_host": _INTEGER, "state_dir": _STRING, "command_timeout": _DURATION,
    "keepalive": _DURATION, "keep_releases": _INTEGER}


def driver_options(section: str) -> dict[str, tuple[str, ...]]:
    """The options each router (or runtime) kind accepts: the keys of the table its option
    check reads (PARSERS or OPTIONS beside its parse_options), as validate runs it."""
    out = {}
    for (where, kind), check in option_checks().items():
        if where == section:
            module = sys.modules[check.__module__]
            out[kind] = tuple(getattr(module, "PARSERS", None) or getattr(module, "OPTIONS"))
    return out


def router_options() -> dict[str, tuple[str, ...]]:
    return driver_options("router")


def router_defaults(kind: str) -> dict[str, Any]:
    """What each driver fills in for an option left out (its own dataclass or parser)."""
    from zerodown.routers import embedded_options, haproxy_options, nginx_options
    if kind == "haproxy":
        return haproxy_options.parse_options({})
    options = {"embedded": embedded_options.EmbeddedOptions,
               "nginx": nginx_options.NginxOptions}.get(kind)
    return {} if options is None else {
        f.name: f.default for f in dataclasses.fields(options) if f.default is not None}


def runtime_defaults(kind: str) -> dict[str, Any]:
    """What the ssh runtime fills in for an option left out (its dataclass); local takes none."""
    from zerodown.runtimes.ssh_options import SshOptions
    return {} if kind != "ssh" else {
        f.name: f.default for f in dataclasses.fields(SshOptions) if f.default not in (None, ())}


def driver_schema(section: str, kinds: tuple[str, ...]) -> dict:
    """`router:` or `runtime:` as a kind name, or a mapping of a kind and that kind's
    options (a kind without an option check takes none)."""
    tables = driver_options(section)

    def one(kind: str) -> dict:
        defaults = router_defaults(kind) if section == "router" else runtime_defaults(kind)
        return {"type": "object", "additionalProperties": False,
                "properties": {"kind": {"const": kind}, **{
                    k: {**OPTION_TYPES.get(k, {}),
                        **({"default": defaults[k]} if k in defaults else {})}
                    for k in tables.get(kind, ()) + (ROUTER_COMMON if section == "router" else ())}}}
    return {"anyOf": [{"enum": list(kinds)}, *(one(k) for k in kinds)]}


# --- merging the words into the schema ------------------------------------------------

def annotate(schema: dict) -> dict:
    """A copy of `schema` with a description and examples on every key WORDS has."""
    schema = json.loads(json.dumps(schema))  # not deepcopy: it keeps nodes shared by two keys
    for path, node, _ in keys(schema, every=True):
        words = WORDS.get(path)
        if words is None:
            continue
        text, example = words
        for target in node.get("_targets", [node]):
            target["description"] = text
            if example is not None:
                target["examples"] = [example]
    return schema


def keys(schema: dict, prefix: str = "", every: bool = False
         ) -> Iterator[tuple[str, dict, bool]]:
    """(doc path, the key's schema node, required) for every key, shared parts under their
    own name; `every`: each place a key's schema appears (a hook is a list item or alone)."""
    for key, node, required in _properties(schema, every):
        path = f"{prefix}.{key}" if prefix else key
        yield path, node, required
        inner = "hook" if prefix == "hooks" else SHARED.get(key, path)
        if key == "steps":
            yield from _steps(node, every)
        else:
            yield from keys(node, inner, every)


def _properties(node: dict, every: bool = False) -> Iterator[tuple[str, dict, bool]]:
    """The keys of an object, through anyOf/oneOf branches and list items (each once)."""
    seen: set[str] = set()
    kinds = [sub for b in _branches(node) for k, sub in b.get("properties", {}).items()
             if k == "kind" and "const" in sub]
    if kinds:  # one branch per strategy or router kind: one `kind` key with all of them
        seen.add("kind")
        yield "kind", {"enum": [k["const"] for k in kinds], "_targets": kinds,
                       **{k: v for k, v in kinds[0].items() if k in ("description", "examples")}
                       }, False
    for branch in _branches(node):
        for key, sub in branch.get("properties", {}).items():
            if key not in seen or (every and key != "kind"):
                seen.add(key)
                yield key, sub, key in branch.get("required", ())


def _branches(node: dict) -> list[dict]:
    out = [node]
    for key in ("anyOf", "oneOf"):
        for branch in node.get(key, ()):
            out += _branches(branch)
    if isinstance(node.get("items"), dict):
        out += _branches(node["items"])
    return out


def _steps(node: dict, every: bool) -> Iterator[tuple[str, dict, bool]]:
    for branch in _branches(node):
        for key, sub in branch.get("properties", {}).items():
            if len(branch.get("properties", {})) == 1:  # {weight: N}, {pause: ...}, {analysis: ...}
                yield f"step.{key}", sub, False
                if key in ("analysis", "shadow"):
                    yield from keys(sub, key, every)


# --- the page ------------------------------------------------------------------------------

SECTIONS = (  # (title, doc path prefix, what the section is)
    ("The service", "", "Top-level keys."),
    ("app", "app", "What runs for one instance."),
    ("app.secrets items", "secret",
     "Each item of `app.secrets`: a name (read from the controller's variable of that name) "
     "or a mapping."),
    ("health", "health", "How zerodown decides an instance is healthy."),
    ("logs", "logs",
     "Each instance's output (stdout and stderr, each line stamped with its time) goes to "
     "its log: `.zerodown/logs/<instance>.log` here, `<state_dir>/services/<service>/logs/` "
     "on an ssh host; `zerodown logs` reads them. The log of an instance that runs is never "
     "removed. An ended instance's log — stopped, or dead on its own (crashed, killed), "
     "whether zerodown saw it die yet or not — stays until `keep_ended` newer instances of "
     "the service have ended, so a crash's log can be read after the deployments that "
     "follow it."),
    ("controller", "controller", "The controller daemon (`zerodown up` starts it)."),
    ("router", "router",
     "Each kind takes its own options beside `kind` (the words say which). Attach "
     "modes drive a load balancer you run; see the README's Load balancers section."),
    ("runtime", "runtime", ""),
    ("strategy", "strategy", "Each key applies to the kinds it names; `kind` picks them."),
    ("Canary steps", "step", "Each item of `strategy.steps` has exactly one of these keys."),
    ("Analysis", "analysis",
     "`strategy.analysis`, `pre_promotion_analysis`, `post_promotion_analysis` and "
     "`{analysis: ...}` steps. At least one threshold (`success_rate`, `latency_p99`, "
     "`max_success_rate_drop`, `max_latency_ratio`) or a `query`."),
    ("Shadow", "shadow",
     "A canary's `{shadow: ...}` step and blue-green's `pre_promotion_shadow`: the new "
     "revision's instances run with no user routed to them; the load balancer copies users' "
     "requests to the first one and compares its answers with the stable revision's (status, "
     "chosen headers, body). The embedded proxy does it (the comparison in a low-priority "
     "process of its own, beside the users' path); nginx mirrors to zerodown's comparator, "
     "which replays each copy to a stable instance too and compares the two answers (GET, "
     "HEAD, OPTIONS only); HAProxy is refused at validate (no mirroring of its own)."),
    ("Prometheus templates", "analysis.prometheus_templates",
     "`analysis.prometheus_templates`: any of the three; the others keep the embedded proxy's."),
    ("Match rules", "match",
     "Each item of `strategy.match`: exactly one of header/cookie and one of equals/regex."),
    ("Sticky", "sticky", "`strategy.sticky`."),
    ("tls", "tls", "https on the service's listener."),
    ("hooks", "hooks", "Each moment takes a list of hooks (or one)."),
    ("A hook", "hook", "Exactly one of `command` or `http`."),
)


def markdown(schema: dict) -> str:
    """docs/config.md: a table per section, every key with type, default, example."""
    rows: dict[str, list[tuple[str, dict, bool]]] = {}
    done: set[str] = set()
    for path, node, required in keys(schema):
        if path not in done:  # an analysis appears in four places: its keys once
            done.add(path)
            rows.setdefault(path.rsplit(".", 1)[0] if "." in path else "", []).append(
                (path, node, required))
    out = [HEADER]
    for title, prefix, about in SECTIONS:
        out.append(f"\n## {title}\n")
        if about:
            out.append(f"{about}\n")
        out.append("| key | type | default | what it does | example |\n|---|---|---|---|---|")
        for path, node, required in rows.get(prefix, ()):
            name = path.rsplit(".", 1)[-1]
            out.append(f"| `{name}` | {_type(node)} | {_default(node, required)} | "
                       f"{node.get('description', '')} | {_example(node)} |")
    return "\n".join(out) + "\n"


HEADER = """\
# zerodown.yaml reference

<!-- Generated from the JSON Schema by scripts/config_reference.py; do not edit by hand.
     tests/unit/test_config_reference.py fails when this page and the schema differ. -->

Every key zerodown.yaml accepts. `zerodown validate` checks a file and reports every error
as `file:line: key: what is allowed`; `zerodown schema` prints the JSON Schema this page is
made from (for editors: yaml-language-server). A **duration** is `500ms`, `1s`, `2m`, `1h`,
`1m30s` or a number of seconds; a **count or %** is a number of instances or a percentage
of `instances` like `"25%"`; a **size** is `10MB`, `512KB`, `1GB` (K, M, G: powers of
1024, as docker's `100m`) or a number of bytes. `--set key.path=value` on the command line sets any key for one
command (the value read as YAML), except service, listen, router and runtime.
"""


def _type(node: dict) -> str:
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    options = [b for b in node.get("anyOf", ()) if b.get("type") != "null"]
    if len(options) == 2 and {b.get("type") for b in options} == {"number", "string"} and \
            "ms|s|m|h" in json.dumps(options):
        return "duration"
    if any(str(b.get("pattern", "")).endswith("%$") for b in options):
        return "count or %"
    if any("KkMmGg" in str(b.get("pattern", "")) for b in options):
        return "size"
    if options:
        return " or ".join(dict.fromkeys(_type(b) for b in options))
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "integer" and "minimum" in node:
        hi = node.get("maximum")
        return f"integer {node['minimum']}..{hi}" if hi is not None else \
            f"integer ≥ {node['minimum']}"
    if kind == "number" and "minimum" in node:
        hi = node.get("maximum")
        return f"number {node['minimum']:g}..{hi:g}" if hi is not None else \
            f"number ≥ {node['minimum']:g}"
    if kind == "array":
        return "list"
    if kind == "object":
        return "mapping"
    return kind or "see below"


def _default(node: dict, required: bool) -> str:
    if "default" not in node:
        return "**required**" if required else "—"
    value = node["default"]
    if _type(node) == "duration" and isinstance(value, (int, float)):
        return f"`{value:g}s`"
    return f"`{json.dumps(value)}`"


def _example(node: dict) -> str:
    if not node.get("examples"):
        return ""
    text = yaml.safe_dump(node["examples"][0], default_flow_style=True, width=1000,
                          allow_unicode=True).strip().removesuffix("\n...").strip()
    return "`" + text.replace("|", "\\|") + "`"
