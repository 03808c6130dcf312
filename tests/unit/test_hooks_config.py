"""zerodown.yaml's `hooks:`: parsing, every error message with its line, the schema;
and the pure parts of hooks.py (moments, the context a hook is told, what aborts)."""

from __future__ import annotations

import json

import pytest

from zerodown.config import apply_overrides, json_schema, parse_config
from zerodown.errors import ConfigError, ZerodownError
from zerodown.hooks import (BEFORE_PROMOTION, MOMENTS, HookContext, HookFailed, HookResult,
                            Hooks, HookSpec, require)

BASE = """\
service: shop
listen: 127.0.0.1:8080
app: {command: python app.py}
"""  # hooks: starts on line 4


def hooks_of(text: str) -> Hooks:
    return parse_config(BASE + text).hooks


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(BASE + text, file="zerodown.yaml")
    return [str(err) for err in e.value.errors]


def test_the_example_from_the_docs_parses_into_specs_per_moment():
    hooks = hooks_of("""\
hooks:
  before_traffic:
    - command: ["./smoke.sh", 3]
      timeout: 20s
    - http: http://127.0.0.1:9000/hook
  on_rollback:
    - command: "echo rolled back >> /tmp/x"
""")
    assert hooks.before_traffic == (
        HookSpec(command=("./smoke.sh", "3"), timeout=20.0),
        HookSpec(http="http://127.0.0.1:9000/hook"))
    assert hooks.on_rollback == (HookSpec(command="echo rolled back >> /tmp/x"),)
    assert hooks.moments() == {"before_traffic", "on_rollback"}
    assert hooks.at("after_promote") == () and hooks.at("on_rollback") == hooks.on_rollback


def test_every_key_of_a_hook():
    hooks = hooks_of("""\
hooks:
  after_healthy:
    - http: https://hooks.example.com/deploy?x=1
      method: put
      timeout: 1m30s
      headers: {Authorization: Bearer abc, X-Retries: 2}
      name: notify
  before_start:
    command: [./prepare.sh]       # one hook without a list
    env: {MODE: quick, DEBUG: true, JSON: '{"a": 1}'}
    cwd: scripts
""")
    assert hooks.after_healthy == (HookSpec(
        http="https://hooks.example.com/deploy?x=1", method="PUT", timeout=90.0,
        headers={"Authorization": "Bearer abc", "X-Retries": "2"}, name="notify"),)
    assert hooks.before_start == (HookSpec(
        command=("./prepare.sh",), env={"MODE": "quick", "DEBUG": "true", "JSON": '{"a": 1}'},
        cwd="scripts"),)


@pytest.mark.parametrize("text", ["", "hooks:\n", "hooks: {}\n", "hooks: {before_start: }\n",
                                  "hooks: {before_start: []}\n"])
def test_no_hooks(text):
    assert hooks_of(text) == Hooks() and Hooks().moments() == frozenset()


@pytest.mark.parametrize("text, expected", [
    ("hooks: [before_start]",
     'zerodown.yaml:4: hooks: must be a mapping of moment: [hooks] (moments: before_start, '
     'after_healthy, before_traffic, after_traffic, after_promote, on_rollback), '
     'got ["before_start"]'),
    ("hooks:\n  before_trafic: []",
     'zerodown.yaml:5: hooks.before_trafic: unknown moment "before_trafic" '
     '(did you mean "before_traffic"?)'),
    ("hooks:\n  whenever: []",
     'zerodown.yaml:5: hooks.whenever: unknown moment "whenever" (allowed: before_start, '
     'after_healthy, before_traffic, after_traffic, after_promote, on_rollback)'),
    ("hooks:\n  before_traffic: ./smoke.sh",
     'zerodown.yaml:5: hooks.before_traffic: must be a list of hooks, each with command or '
     'http, got "./smoke.sh"'),
    ("hooks:\n  before_traffic:\n    - ./smoke.sh",
     'zerodown.yaml:6: hooks.before_traffic[0]: must be a mapping with command or http, '
     'got "./smoke.sh" (a command is written {command: "./smoke.sh"})'),
    ("hooks:\n  before_traffic:\n    - timeout: 5s",
     "zerodown.yaml:6: hooks.before_traffic[0]: needs exactly one of command or http"),
    ("hooks:\n  before_traffic:\n    - {command: x, http: 'http://a'}",
     "zerodown.yaml:6: hooks.before_traffic[0]: needs exactly one of command or http, not both"),
    ("hooks:\n  before_traffic:\n    - {commnd: x}",
     'zerodown.yaml:6: hooks.before_traffic[0].commnd: unknown key "commnd" '
     '(did you mean "command"?)'),
    ("hooks:\n  before_traffic:\n    - {command: []}",
     'zerodown.yaml:6: hooks.before_traffic[0].command: must be a list of arguments like '
     '["./smoke.sh", "--quick"] or a shell command line string, got []'),
    ("hooks:\n  before_traffic:\n    - {command: '  '}",
     'zerodown.yaml:6: hooks.before_traffic[0].command: must be a list of arguments like '
     '["./smoke.sh", "--quick"] or a shell command line string, got "  "'),
    ("hooks:\n  before_traffic:\n    - {command: [a, [b]]}",
     'zerodown.yaml:6: hooks.before_traffic[0].command: must be a list of arguments like '
     '["./smoke.sh", "--quick"] or a shell command line string, got ["a", ["b"]]'),
    ("hooks:\n  before_traffic:\n    - {http: 'ftp://host/x'}",
     'zerodown.yaml:6: hooks.before_traffic[0].http: must be an http:// or https:// URL like '
     '"http://127.0.0.1:9000/hook", got "ftp://host/x"'),
    ("hooks:\n  before_traffic:\n    - {http: 'http://'}",
     'zerodown.yaml:6: hooks.before_traffic[0].http: must be an http:// or https:// URL like '
     '"http://127.0.0.1:9000/hook", got "http://"'),
    ("hooks:\n  before_traffic:\n    - {http: 'http://127.0.0.1:99999/'}",
     'zerodown.yaml:6: hooks.before_traffic[0].http: Port out of range 0-65535 in '
     '"http://127.0.0.1:99999/"'),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', method: GET}",
     'zerodown.yaml:6: hooks.before_traffic[0].method: must be one of POST, PUT, PATCH, '
     'got "GET"'),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', timeout: 0}",
     "zerodown.yaml:6: hooks.before_traffic[0].timeout: must be more than 0s, got 0"),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', timeout: soon}",
     'zerodown.yaml:6: hooks.before_traffic[0].timeout: must be a duration like "500ms", '
     '"1s", "2m" or "1h" (a number is seconds), got "soon"'),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', headers: [a]}",
     'zerodown.yaml:6: hooks.before_traffic[0].headers: must be a mapping of header name: '
     'value, got ["a"]'),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', headers: {'X Bad': 1}}",
     'zerodown.yaml:6: hooks.before_traffic[0].headers: "X Bad" is not a valid header name'),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', headers: {X-A: null}}",
     "zerodown.yaml:6: hooks.before_traffic[0].headers: X-A: must be a string or number, "
     "got null"),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', headers: {X-A: \"a\\nb\"}}",
     'zerodown.yaml:6: hooks.before_traffic[0].headers: X-A: must not contain a line break, '
     'got "a\\nb"'),
    ("hooks:\n  before_traffic:\n    - {command: x, env: {1A: b}}",
     'zerodown.yaml:6: hooks.before_traffic[0].env: "1A" is not a valid environment '
     'variable name'),
    ("hooks:\n  before_traffic:\n    - {command: x, headers: {A: b}}",
     "zerodown.yaml:6: hooks.before_traffic[0].headers: applies to http hooks only "
     "(this hook has command)"),
    ("hooks:\n  before_traffic:\n    - {command: x, method: POST}",
     "zerodown.yaml:6: hooks.before_traffic[0].method: applies to http hooks only "
     "(this hook has command)"),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', env: {A: b}}",
     "zerodown.yaml:6: hooks.before_traffic[0].env: applies to command hooks only "
     "(this hook has http)"),
    ("hooks:\n  before_traffic:\n    - {http: 'http://a/', cwd: scripts}",
     "zerodown.yaml:6: hooks.before_traffic[0].cwd: applies to command hooks only "
     "(this hook has http)"),
    ("hooks:\n  before_traffic:\n    - {command: x, name: ''}",
     'zerodown.yaml:6: hooks.before_traffic[0].name: must be a non-empty string, got ""'),
])
def test_each_error_names_its_key_and_line(text, expected):
    assert errors_of(text) == [expected]


def test_every_error_is_reported_at_once_at_its_own_line():
    errors = errors_of("""\
hooks:
  before_start:
    - command: ok
    - {}
  after_traffic:
    - http: http://127.0.0.1:9/x
      timeout: never
""")
    assert errors == ["zerodown.yaml:7: hooks.before_start[1]: needs exactly one of command "
                      "or http",
                      'zerodown.yaml:10: hooks.after_traffic[0].timeout: must be a duration like '
                      '"500ms", "1s", "2m" or "1h" (a number is seconds), got "never"']


def test_set_overrides_reach_hooks_and_are_checked_the_same():
    cfg = parse_config(BASE + "hooks:\n  before_traffic:\n    - command: ./smoke.sh\n")
    assert apply_overrides(cfg, ["hooks.before_traffic[0].timeout=5s"]).hooks.before_traffic[0] \
        == HookSpec(command="./smoke.sh", timeout=5.0)
    # A problem of the whole hook is placed at the hook, in the file (the key --set wrote is
    # one level down), as every section's cross-key problems are.
    with pytest.raises(ConfigError, match=r"^zerodown.yaml:6: hooks.before_traffic\[0\]: needs "
                                          r"exactly one of command or http, not both$"):
        apply_overrides(cfg, ["hooks.before_traffic.0.http=http://a/"])
    with pytest.raises(ConfigError, match=r"^--set hooks.before_traffic.0.timeout=0: hooks"
                                          r".before_traffic\[0\].timeout: must be more than 0s"):
        apply_overrides(cfg, ["hooks.before_traffic.0.timeout=0"])


def test_the_json_schema_describes_hooks():
    schema = json_schema()["properties"]["hooks"]
    json.dumps(schema)
    assert schema["additionalProperties"] is False and tuple(schema["properties"]) == MOMENTS
    as_list, one, _null = schema["properties"]["before_traffic"]["anyOf"]
    assert as_list["items"] == one
    assert set(one["properties"]) == {"command", "http", "method", "timeout", "headers", "env",
                                      "cwd", "name", "per_host"}
    assert one["oneOf"] == [{"required": ["command"]}, {"required": ["http"]}]
    assert one["additionalProperties"] is False and one["properties"]["method"]["enum"] == \
        ["POST", "PUT", "PATCH"]


# --- the pure parts of hooks.py ------------------------------------------------

CTX = HookContext(service="shop", deployment=7, moment="before_traffic", revision=3,
                  version="v3", stable_revision=None, step=4, step_description="route r3 10%",
                  url="http://127.0.0.1:8080", extra={"ticket": "OPS-1"},
                  instances=("127.0.0.1:4001", "127.0.0.1:4002"))


def test_moments_in_order_and_which_abort():
    assert MOMENTS == ("before_start", "after_healthy", "before_traffic", "after_traffic",
                       "after_promote", "on_rollback")
    assert BEFORE_PROMOTION == set(MOMENTS) - {"after_promote", "on_rollback"}
    with pytest.raises(ValueError, match="unknown hook moment 'before_trafic'"):
        Hooks().at("before_trafic")


def test_a_command_is_told_the_context_in_its_environment():
    env = CTX.environment()
    assert {k: v for k, v in env.items() if k != "ZERODOWN_CONTEXT"} == {
        "ZERODOWN_SERVICE": "shop", "ZERODOWN_DEPLOYMENT": "7", "ZERODOWN_MOMENT": "before_traffic",
        "ZERODOWN_REVISION": "3", "ZERODOWN_VERSION": "v3", "ZERODOWN_STABLE_REVISION": "",
        "ZERODOWN_STEP": "4", "ZERODOWN_STEP_DESCRIPTION": "route r3 10%",
        "ZERODOWN_URL": "http://127.0.0.1:8080", "ZERODOWN_HOST": "127.0.0.1:8080",
        "ZERODOWN_PREVIEW_HEADER": "",
        "ZERODOWN_INSTANCES": "127.0.0.1:4001 127.0.0.1:4002"}
    assert json.loads(env["ZERODOWN_CONTEXT"]) == {
        "service": "shop", "deployment": 7, "moment": "before_traffic", "revision": 3,
        "version": "v3", "stable_revision": None, "step": 4, "step_description": "route r3 10%",
        "url": "http://127.0.0.1:8080", "preview_header": None, "extra": {"ticket": "OPS-1"},
        "instances": ["127.0.0.1:4001", "127.0.0.1:4002"], "host": "127.0.0.1:8080"}


@pytest.mark.parametrize("kwargs", [{}, {"command": "x", "http": "http://a/"}])
def test_a_hook_is_exactly_one_of_command_or_http_in_code_too(kwargs):
    with pytest.raises(ValueError, match="needs exactly one of command or http"):
        HookSpec(**kwargs)


def test_a_hook_names_itself_by_name_and_what_it_runs():
    assert HookSpec(command=("./smoke.sh", "a b")).label == "./smoke.sh 'a b'"
    assert HookSpec(command="echo hi >> /tmp/x").label == "echo hi >> /tmp/x"
    assert HookSpec(http="http://a/h", method="PUT", name="notify").label == \
        "notify (PUT http://a/h)"


def test_require_aborts_only_before_promotion_naming_moment_hook_and_summary():
    failed = HookResult(False, 0.2, "smoke (./smoke.sh) exited 1 after 0.20s", "smoke (./smoke.sh)")
    results = [HookResult(True, 0.1, "./ok.sh exited 0 after 0.10s", "./ok.sh"), failed]
    for moment in BEFORE_PROMOTION:
        with pytest.raises(HookFailed) as e:
            require(results, moment)
        assert str(e.value) == f"{moment} hook smoke (./smoke.sh) exited 1 after 0.20s"
        assert isinstance(e.value, ZerodownError) and e.value.result is failed
    require(results, "after_promote")  # reported by the engine, never an abort
    require(results, "on_rollback")
    require(results[:1], "before_traffic")
