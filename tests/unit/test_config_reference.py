"""docs/config.md cannot drift from zerodown.yaml's parser: every key the parser accepts is
in the JSON Schema, every key of the schema has words, and the committed page is what the
schema renders (`.venv/bin/python scripts/config_reference.py` rewrites it)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from zerodown import config, config_checks, config_reference
from zerodown.config import json_schema
from zerodown.config_reference import keys, markdown
from zerodown.config_words import WORDS
from zerodown.hooks import MOMENTS
from zerodown.hooks_config import HOOK
from zerodown.routers import embedded_options, haproxy_options, nginx_options
from zerodown.runtimes.ssh_options import SshOptions
from zerodown.schema_sections import Section
from zerodown.strategies import options, shadow_options
from zerodown import tls_config

REPO = Path(__file__).resolve().parents[2]


def accepted() -> set[str]:
    """Every key path the parser's own tables accept, named as the reference names them."""
    out: set[str] = set()
    for key, kind in config.SERVICE.fields.items():
        out.add(key)
        if isinstance(kind, Section):
            out |= {f"{key}.{k}" for k in kind.fields}
    out |= {f"secret.{k}" for k in config.SECRET.fields}
    out |= {"strategy.kind"} | {f"strategy.{k}" for rules in options._RULES.values() for k in rules}
    out |= {f"analysis.{k}" for k in options.ANALYSIS.fields}
    out |= {f"analysis.prometheus_templates.{k}" for k in options.PROMETHEUS_TEMPLATES}
    out |= {f"sticky.{k}" for k in options.STICKY.fields}
    out |= {f"match.{k}" for k in options.MATCH.fields}
    out |= {f"step.{k}" for k in options._STEP_KINDS}
    out |= {f"shadow.{k}" for k in shadow_options.SHADOW.fields}
    out |= {f"hooks.{m}" for m in MOMENTS} | {f"hook.{k}" for k in HOOK.fields}
    out |= {f"tls.{k}" for k in tls_config.SECTION.fields}
    out |= {f"tls.certificates.{k}" for k in tls_config.NAMED.fields}
    out |= {"router.kind", "runtime.kind"} | {f"router.{k}" for k in config.ROUTER_COMMON}
    for (section, _), check in config_checks.option_checks().items():  # each driver's own table
        module = sys.modules[check.__module__]
        table = getattr(module, "PARSERS", None) or getattr(module, "OPTIONS")
        out |= {f"{section}.{k}" for k in table}
    return out


def documented() -> set[str]:
    return {path for path, _, _ in keys(json_schema())}


def test_every_key_the_parser_accepts_is_in_the_schema_and_nothing_else():
    assert accepted() - documented() == set(), "keys the schema (and docs/config.md) lack"
    assert documented() - accepted() == set(), "keys in the schema the parser refuses"


def test_router_options_per_kind_are_the_drivers_own():
    kinds = config_reference.router_options()
    assert set(kinds["haproxy"]) == set(haproxy_options.OPTIONS)
    assert set(kinds["nginx"]) == set(nginx_options.PARSERS)
    assert set(kinds["embedded"]) == set(embedded_options.PARSERS)
    assert set(kinds) == set(config.ROUTER_KINDS)
    checked = {kind for section, kind in config_checks.option_checks() if section == "router"}
    assert checked <= set(kinds), "a router kind whose options the reference does not know"


def test_every_driver_option_has_a_type_and_its_drivers_default():
    """docs/config.md said `see below` for the type of most of runtime's options and `—`
    for their defaults (10s, 60s, 5 kept releases...), which only their words repeated."""
    for section in ("router", "runtime"):
        for kind, names in config_reference.driver_options(section).items():
            untyped = [k for k in names if k not in config_reference.OPTION_TYPES]
            assert not untyped, f"{section} {kind}: add to OPTION_TYPES: {untyped}"
    ssh = next(k for k in json_schema()["properties"]["runtime"]["anyOf"][1:]
               if k["properties"]["kind"]["const"] == "ssh")["properties"]
    said = {k: node["default"] for k, node in ssh.items() if "default" in node}
    assert {"connect_timeout", "command_timeout", "keepalive", "keep_releases"} <= set(said)
    assert {k: getattr(SshOptions(), k) for k in said} == said


def test_each_load_balancers_default_the_words_say_is_its_own():
    """A router option's default differs by kind, so its words say each (`embedded 3s,
    HAProxy 2s, nginx 3s`): each figure is the one its driver uses when the key is left out
    (the proxy's settings, HAProxy's rendered timeouts, NginxOptions)."""
    import dataclasses
    import re

    from zerodown.proxy.settings import ProxySettings
    from zerodown.routers.haproxy_render import Settings
    haproxy = {f.name: f.default for f in dataclasses.fields(Settings)}
    own = {"embedded": lambda key: getattr(ProxySettings(), key),
           "HAProxy": lambda key: haproxy.get("timeout_" + {"response": "server"}.get(
               key.removesuffix("_timeout"), key.removesuffix("_timeout"))),
           "nginx": lambda key: getattr(nginx_options.NginxOptions(), key)}
    checked = []
    for path, (words, _) in WORDS.items():
        key = path.removeprefix("router.")
        if key == path:
            continue
        for kind, figure in re.findall(r"(embedded|HAProxy|nginx)(?:'s `[^`]+`)? (\d+)s?\b",
                                       words):
            code = own[kind](key)
            if code is not None:  # None: the load balancer's own default, not zerodown's
                checked.append(key)
                assert float(figure) == code, f"router.{key}: {kind} {figure} in the words, " \
                                              f"{code} in the code"
    assert len(checked) >= 8, checked


def test_every_key_has_words_and_no_words_name_a_missing_key():
    schema = json_schema()
    missing = [path for path, node, _ in keys(schema) if not node.get("description")]
    assert missing == [], ("keys without words: add them to WORDS in zerodown/config_words.py, "
                           "then run .venv/bin/python scripts/config_reference.py")
    assert set(WORDS) - documented() == set(), "words for keys that do not exist"


def test_every_example_is_valid_where_it_sits():
    """Each example is parsed as the value of its own key in a minimal config."""
    base = {"service": "shop", "listen": "127.0.0.1:8080", "app": {"command": "app"}}
    for path in ("health.path", "health.interval", "app.cwd", "app.env_file", "app.secrets",
                 "strategy.steps", "strategy.match", "strategy.sticky", "on_failure"):
        top, key = path.split(".") if "." in path else (path, None)
        data = {**base, **({top: {key: WORDS[path][1]}} if key else {top: WORDS[path][1]})}
        if top == "strategy":
            data["strategy"]["kind"] = "canary"
            data["strategy"].setdefault("steps", [{"weight": 10}])
        if top == "app":
            data["app"] = {**base["app"], **data["app"]}
        config.parse_config(yaml.safe_dump(data))


def test_the_committed_page_is_what_the_schema_renders():
    page = (REPO / "docs" / "config.md").read_text()
    assert page == markdown(json_schema()), \
        "docs/config.md is stale: run .venv/bin/python scripts/config_reference.py"


def test_the_example_config_uses_only_documented_keys():
    data = yaml.safe_load((REPO / "examples" / "zerodown.yaml").read_text())
    used = {k for k in data} | {f"{k}.{sub}" for k, v in data.items() if isinstance(v, dict)
                                for sub in v}
    assert used <= documented(), used - documented()
