"""The JSON Schema (`zerodown schema`, for editors) says what the loader accepts: the shipped
examples validate, and each case below gets the same verdict from both — in particular a
mapping that only tunes a default (`strategy.sticky: {max_age: 3600}` on an A/B test), which
the loader takes and a schema requiring `mode` and `name` refused."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from zerodown.config import apply_overrides, json_schema, parse_config, starter_yaml
from zerodown.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(json_schema())

BASE = """\
service: shop
listen: 127.0.0.1:8080
instances: 4
app: {command: "python app.py --port {port}"}
health: {path: /healthz}
"""


def schema_errors(data) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(data)]


def loader_accepts(text: str) -> bool:
    try:
        parse_config(text)
    except ConfigError:
        return False
    return True


def test_the_schema_itself_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize("text", [
    (ROOT / "examples" / "zerodown.yaml").read_text(), starter_yaml()],
    ids=["examples/zerodown.yaml", "zerodown init"])
def test_the_example_configs_validate(text):
    assert loader_accepts(text)
    assert schema_errors(yaml.safe_load(text)) == []


@pytest.mark.parametrize("strategy, valid", [
    ("{kind: ab-test}", True),
    ("{kind: ab-test, split: 20, sticky: {max_age: 3600}}", True),  # the default, tuned
    ("{kind: ab-test, sticky: {}}", True),
    ("{kind: ab-test, sticky: {mode: header, name: X-User}}", True),  # said whole
    ("{kind: ab-test, sticky: {mode: header}}", False),  # begun, not said whole
    ("{kind: ab-test, sticky: {name: X-User, max_age: 60}}", False),
    ("{kind: ab-test, sticky: {max_age: -1}}", False),
    ("{kind: ab-test, sticky: {max_age: 60, colour: red}}", False),
    # canary has no sticky by default: nothing to tune, so it is said whole or not at all
    ("{kind: canary, steps: [{weight: 5}], sticky: {mode: cookie, name: zd}}", True),
    ("{kind: canary, steps: [{weight: 5}], sticky: {max_age: 3600}}", False),
], ids=lambda v: str(v))
def test_the_schema_and_the_loader_agree_on_sticky(strategy, valid):
    text = BASE + f"strategy: {strategy}\n"
    assert loader_accepts(text) is valid
    errors = schema_errors(yaml.safe_load(text))
    assert (errors == []) is valid, errors


def test_a_setting_that_tunes_the_ab_tests_sticky_cookie_validates():
    """`zerodown deploy v2 --set strategy.sticky.max_age=3600` on an A/B test."""
    cfg = apply_overrides(parse_config(BASE + "strategy: {kind: ab-test}\n"),
                          ["strategy.sticky.max_age=3600"])
    assert cfg.strategy.sticky.max_age == 3600 and cfg.strategy.sticky.name == "zerodown_ab"
    assert schema_errors(cfg.source) == []
