"""zerodown.yaml: parsing, every error with its line, overrides, schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zerodown.config import (Amount, AnalysisStep, AppConfig, BlueGreenStrategy, CanaryStrategy,
                             InPlaceStrategy, PauseStep, RollingStrategy, WeightStep,
                             apply_overrides, json_schema, load_config, parse_config, starter_yaml)
from zerodown import linear_regex
from zerodown.errors import ConfigError
from zerodown.schema import parse_duration

EXAMPLE = Path(__file__).parents[2] / "examples" / "zerodown.yaml"

BASE = """\
service: shop
listen: 127.0.0.1:8080
instances: 4
app:
  command: python app.py --port {port}
  cwd: releases/{version}
  env: {APP_VERSION: "{version}", DEBUG: true, WORKERS: 2}
health: {path: /healthz, interval: 1s, timeout: 2s, start_timeout: 30s}
drain_timeout: 1m30s
strategy:
  kind: rolling
  max_surge: 25%
  max_unavailable: 0
"""


def errors_of(text: str, file: str = "zerodown.yaml") -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(text, file=file)
    return [str(err) for err in e.value.errors]


def test_a_full_file_parses_into_typed_values():
    cfg = parse_config(BASE)
    assert cfg.service == "shop" and cfg.instances == 4
    assert cfg.app.command == ("python", "app.py", "--port", "{port}")
    assert cfg.app.env == {"APP_VERSION": "{version}", "DEBUG": "true", "WORKERS": "2"}
    assert cfg.drain_timeout == 90.0 and cfg.stop_grace == 10.0 and cfg.on_failure == "rollback"
    assert cfg.strategy == RollingStrategy(Amount(25, percent=True), Amount(0))
    assert cfg.router.kind == "embedded" and cfg.runtime.kind == "local"


def test_the_example_and_the_starter_file_are_valid():
    assert load_config(str(EXAMPLE)).app.command[:2] == ("python3", "app.py")
    assert parse_config(starter_yaml("web", 9000)).listen == "127.0.0.1:9000"


def test_every_commented_strategy_in_the_example_is_valid():
    lines = EXAMPLE.read_text().splitlines()
    start, end = lines.index("strategy:"), next(i for i, l in enumerate(lines) if l.startswith("on_failure"))
    blocks, kinds = [], []
    for line in lines[start + 1:end]:
        if line.startswith("  # kind:"):
            blocks.append([])
        if blocks and line.startswith("  # "):
            blocks[-1].append("  " + line[4:])
    for block in blocks:
        text = "\n".join(lines[:start + 1] + block + lines[end:])
        kinds.append(parse_config(text).strategy.kind)
    assert kinds == ["in-place", "blue-green", "canary", "ab-test"]


@pytest.mark.parametrize("value, seconds", [
    ("500ms", 0.5), ("1s", 1.0), ("2m", 120.0), ("1h", 3600.0), ("1m30s", 90.0),
    ("1.5s", 1.5), (3, 3.0), (0.25, 0.25)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("change, expected", [
    (("max_surge: 25%", "max_surge: lots"),
     'zerodown.yaml:12: strategy.max_surge: must be a count or a percentage like "25%" (a whole number from 0, or 0% to 100%), got "lots"'),
    (("max_surge: 25%", "max_surge: 150%"),  # a percentage, over what is allowed
     'zerodown.yaml:12: strategy.max_surge: must be a count or a percentage like "25%" (a whole number from 0, or 0% to 100%), got "150%"'),
    (("max_surge: 25%", "batch_size: 0"),
     'zerodown.yaml:12: strategy.batch_size: must be a count or a percentage like "25%" (a whole number from 1, or 1% to 100%), got 0'),
    (("max_surge: 25%", "max_surg: 1"),
     'zerodown.yaml:12: strategy.max_surg: unknown key "max_surg" (did you mean "max_surge"?)'),
    (("max_surge: 25%", "scale_down_delay: 5s"),
     "zerodown.yaml:12: strategy.scale_down_delay: is an option of strategy kind blue-green, "
     "not rolling"),
    (("max_surge: 25%", "max_surge: 0"),
     "zerodown.yaml:12: strategy.max_surge: max_surge and max_unavailable cannot both be 0 "
     "(nothing could ever be replaced); set max_surge: 1 or max_unavailable: 1"),
    (("kind: rolling", "kind: rollin"),
     'zerodown.yaml:11: strategy.kind: must be one of in-place, rolling, blue-green, canary, '
     'ab-test, got "rollin" (did you mean "rolling"?)'),
    (("drain_timeout: 1m30s", "drain_timeout: soon"),
     'zerodown.yaml:9: drain_timeout: must be a duration like "500ms", "1s", "2m" or "1h" '
     '(a number is seconds), got "soon"'),
    (("instances: 4", "instances: 0"), "zerodown.yaml:3: instances: must be an integer from 1 to 100000, got 0"),
    (("listen: 127.0.0.1:8080", "listen: 8080"),
     'zerodown.yaml:2: listen: must be host:port like "127.0.0.1:8080" (port 1 to 65535), got 8080'),
    (("cwd: releases/{version}", "cwd: releases/{ver}"),
     'zerodown.yaml:6: app.cwd: unknown placeholder {ver} in "releases/{ver}" '
     "(allowed: {version} {port} {slot} {instance} {host})"),
    (("command: python app.py --port {port}", 'command: "python \'app.py"'),
     "zerodown.yaml:5: app.command: cannot split \"python 'app.py\" into arguments: No closing quotation"),
    (("health: {path: /healthz,", "health: {path: /healthz, tcp: true,"),
     "zerodown.yaml:8: health.tcp: tcp: true checks a TCP connect only; remove health.path or tcp"),
    (("service: shop\n", ""), "zerodown.yaml:1: service: is required"),
])
def test_one_error_names_file_line_key_and_what_is_allowed(change, expected):
    assert errors_of(BASE.replace(*change)) == [expected]


def test_every_error_is_reported_at_once_in_line_order():
    text = BASE.replace("instances: 4", "instances: many").replace("max_surge: 25%", "max_surge: x")
    text += "on_failure: retry\nfoo: 1\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    lines = [err.line for err in e.value.errors]
    assert lines == [3, 12, 14, 15] and len(e.value.errors) == 4
    assert str(e.value).startswith("4 problems in the configuration:\n  zerodown.yaml:3: instances:")
    assert 'foo: unknown key "foo" (allowed: service, listen' in str(e.value)


@pytest.mark.parametrize("text, expected", [
    ("service: [", r"^zerodown.yaml:1: not valid YAML: expected the node content"),
    ("", r"^zerodown.yaml:1: is empty; expected a mapping"),
    ("- a\n- b\n", r"^zerodown.yaml:1: is a list; expected a mapping"),
])
def test_files_that_are_not_a_mapping(text, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(text)


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read configuration") as e:
        load_config(str(tmp_path / "nope.yaml"))
    assert "`zerodown init` writes a starter one here, -f FILE names another" in str(e.value)


def test_an_unreadable_file_is_not_told_to_init(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read configuration: Is a directory") as e:
        load_config(str(tmp_path))
    assert "zerodown init" not in str(e.value)


def test_overrides_are_yaml_values_and_validated_the_same_way():
    cfg = apply_overrides(parse_config(BASE), ["strategy.max_surge=2", "instances=6",
                                               "health.timeout=500ms"])
    assert cfg.strategy.max_surge == Amount(2) and cfg.instances == 6 and cfg.health.timeout == 0.5
    with pytest.raises(ConfigError) as e:
        apply_overrides(cfg, ["strategy.max_surge=lots", "instances=7"])
    assert str(e.value) == ('--set strategy.max_surge=lots: strategy.max_surge: must be a count '
                            'or a percentage like "25%" (a whole number from 0, or 0% to 100%), '
                            'got "lots"')


def test_an_override_can_switch_strategy_and_reports_leftovers():
    cfg = parse_config(BASE)
    assert apply_overrides(cfg, ["strategy={kind: in-place, batch_size: 50%}"]).strategy == \
        InPlaceStrategy(Amount(50, percent=True))
    with pytest.raises(ConfigError, match="is an option of strategy kind rolling, not in-place"):
        apply_overrides(cfg, ["strategy.kind=in-place"])
    with pytest.raises(ConfigError, match=r'^--set: instances: must look like key.path=value, got "instances"'):
        apply_overrides(cfg, ["instances"])


CANARY = BASE.split("strategy:")[0] + """\
strategy:
  kind: canary
  canary_instances: 1
  sticky: {mode: cookie, name: zd_split}
  match: [{header: X-Canary, equals: "1"}]
  steps:
    - weight: 10
    - pause: 30s
    - pause: {}
    - pause: {duration: 2m}
    - analysis: {success_rate: 0.99, latency_p99: 300ms}
    - weight: 100
"""


def test_canary_steps():
    s = parse_config(CANARY).strategy
    assert isinstance(s, CanaryStrategy) and s.canary_instances == Amount(1)
    assert s.steps[:4] == (WeightStep(10), PauseStep(30.0), PauseStep(None), PauseStep(120.0))
    assert isinstance(s.steps[4], AnalysisStep) and s.steps[4].analysis.latency_p99 == 0.3
    assert apply_overrides(parse_config(CANARY), ["strategy.steps[0].weight=5"]).strategy.steps[0] \
        == WeightStep(5)
    with pytest.raises(ConfigError, match=r"^--set strategy.steps.0.weight=101: strategy.steps\[0\].weight"):
        apply_overrides(parse_config(CANARY), ["strategy.steps.0.weight=101"])


def test_canary_errors_point_into_the_step_list():
    text = (CANARY.replace("weight: 10\n", "weight: 120\n").replace("pause: 30s", "paws: 30s")
            .replace("success_rate: 0.99, latency_p99: 300ms", "count: 2")
            .replace("equals: \"1\"", "regex: \"(\""))
    assert errors_of(text) == [
        'zerodown.yaml:14: strategy.match[0].regex: "(" is not a valid rule regex: missing ): ( '
        f'(allowed: {linear_regex.ALLOWED})',
        "zerodown.yaml:16: strategy.steps[0].weight: must be an integer from 0 to 100, got 120",
        'zerodown.yaml:17: strategy.steps[1]: unknown step "paws" (did you mean "pause"?)',
        "zerodown.yaml:20: strategy.steps[4].analysis: needs at least one threshold: success_rate, "
        "latency_p99, max_success_rate_drop or max_latency_ratio"]


def test_blue_green_and_router_shorthand():
    text = BASE.split("strategy:")[0] + (
        "router: haproxy\nruntime: local\n"
        "strategy: {kind: blue-green, auto_promote: false, preview_header: X-Preview}\n")
    cfg = parse_config(text)
    assert cfg.strategy == BlueGreenStrategy(auto_promote=False, preview_header="X-Preview")
    assert (cfg.router.kind, cfg.runtime.kind, cfg.runtime.options) == ("haproxy", "local", {})
    assert apply_overrides(cfg, ["strategy=in-place"]).strategy == InPlaceStrategy()


def test_app_render_fills_placeholders():
    app = parse_config(BASE).app.render(version="v2", port=41001, slot=0, instance="shop-r2-s0")
    assert app == AppConfig(("python", "app.py", "--port", "41001"), "releases/v2",
                            {"APP_VERSION": "v2", "DEBUG": "true", "WORKERS": "2"})


def test_json_schema_covers_every_key_and_kind():
    schema = json_schema()
    json.dumps(schema)  # serialisable as is
    assert schema["required"] == ["service", "listen", "app"]
    assert set(schema["properties"]) == {
        "service", "listen", "instances", "app", "health", "drain_timeout", "stop_grace",
        "router", "runtime", "strategy", "on_failure", "on_host_failure", "on_host_return",
        "progress_deadline",
        "require_zero_failed", "controller", "hooks", "tls", "logs"}
    kinds = [v["properties"]["kind"]["const"] for v in schema["properties"]["strategy"]["anyOf"]]
    assert kinds == ["in-place", "rolling", "blue-green", "canary", "ab-test"]
    assert re.match(schema["properties"]["drain_timeout"]["anyOf"][1]["pattern"], "1m30s")


def test_a_rule_regex_that_needs_backtracking_is_refused_naming_the_rule_and_what_is_allowed():
    text = CANARY.replace('equals: "1"', 'regex: "^(a)\\\\1$"')
    [error] = errors_of(text)
    assert error.startswith('zerodown.yaml:14: strategy.match[0].regex: "^(a)\\\\1$" is not a '
                            'valid rule regex: invalid escape sequence'), error
    assert "without backreferences" in error


ATTACHED = "router: {kind: haproxy, socket: /run/haproxy.sock, backend: app}\n"


@pytest.mark.parametrize("router, strategy, expected", [
    # issue 11.13: found only after the B instances had started, then rolled back
    ("router: nginx\n", "{kind: ab-test, sticky: {mode: cookie, name: my-ab}}",
     "zerodown.yaml:11: strategy.sticky.name: the nginx router can read only cookie names of "
     "letters, digits and _ (no -), got 'my-ab'"),
    ("router: nginx\n", "{kind: canary, steps: [{weight: 5}], match: [{cookie: a-b, equals: '1'}]}",
     "strategy.match[0].cookie: the nginx router can read only cookie names"),
    # issue 11.14: attach mode refused rules and stickiness at deploy time
    (ATTACHED, "{kind: ab-test}", "strategy.sticky: the haproxy router in attach mode"),
    (ATTACHED, "{kind: blue-green}", "strategy.preview_header: the haproxy router in attach "
     "mode (router.socket) splits by weight only and cannot route by header "
     "'X-Zerodown-Preview'; remove it (preview_header: null)"),
    (ATTACHED, "{kind: canary, steps: [{weight: 5}], match: [{header: X-Beta, equals: '1'}]}",
     "strategy.match[0].header: the haproxy router in attach mode"),
    (ATTACHED, "{kind: canary, steps: [{weight: 5}], sticky: {mode: header, name: X-User}}",
     "strategy.sticky: the haproxy router in attach mode"),
    ("router: haproxy\n", "{kind: canary, steps: [{weight: 5}], "
     "match: [{header: 'X#1', equals: '1'}]}", "strategy.match[0].header: the haproxy router "
     "can read only header names"),
])
def test_validate_refuses_what_the_router_cannot_do_before_anything_starts(router, strategy,
                                                                           expected):
    text = BASE.replace("strategy:\n  kind: rolling\n  max_surge: 25%\n  max_unavailable: 0\n",
                        f"{router}strategy: {strategy}\n")
    errors = errors_of(text)
    assert len(errors) == 1 and expected in errors[0], errors


@pytest.mark.parametrize("router, strategy", [
    ("router: nginx\n", "{kind: ab-test}"),  # the default cookie, zerodown_ab, is readable
    ("router: haproxy\n", "{kind: ab-test}"),
    ("router: embedded\n", "{kind: ab-test, sticky: {mode: cookie, name: my-ab}}"),
    (ATTACHED, "{kind: blue-green, preview_header: null}"),
    (ATTACHED, "{kind: canary, steps: [{weight: 5}, {pause: {}}]}"),
])
def test_what_the_router_can_do_is_valid(router, strategy):
    text = BASE.replace("strategy:\n  kind: rolling\n  max_surge: 25%\n  max_unavailable: 0\n",
                        f"{router}strategy: {strategy}\n")
    parse_config(text, file="zerodown.yaml")


def test_a_strategy_the_router_cannot_serve_is_refused_as_a_deploy_override_too():
    cfg = parse_config(BASE.replace("strategy:\n", "router: nginx\nstrategy:\n"))
    with pytest.raises(ConfigError, match="strategy.sticky.name: the nginx router"):
        apply_overrides(cfg, ["strategy={kind: ab-test, sticky: {mode: cookie, name: a-b}}"])


def test_batch_by_host_needs_the_ssh_runtime():
    text = BASE.replace("  kind: rolling\n  max_surge: 25%\n  max_unavailable: 0\n",
                        "  kind: in-place\n  batch_by: host\n")
    [error] = errors_of(text)
    assert "strategy.batch_by: host groups the instances of runtime: ssh" in error
    fleet = text + "runtime: {kind: ssh, hosts: [a, b]}\n"
    assert parse_config(fleet).strategy.batch_by == "host"


@pytest.mark.parametrize("options, key, says", [
    ("  batch_by: host\n", "strategy.batch_by", "host groups the instances of runtime: ssh"),
    ("  max_surge_per_host: 1\n", "strategy.max_surge_per_host", "limits each host of runtime"),
    ("  batch_size: 2\n", "strategy.batch_size", "counts hosts replaced at once with batch_by"),
])
def test_rollings_fleet_options_need_the_ssh_runtime_and_each_other(options, key, says):
    text = BASE.replace("  max_unavailable: 0\n", "  max_unavailable: 0\n" + options)
    [error] = errors_of(text)
    assert f"{key}: {says}" in error
    fleet = text + "runtime: {kind: ssh, hosts: [a, b]}\n"
    if key == "strategy.batch_size":
        assert [f"{key}: {says}" in e for e in errors_of(fleet)] == [True]
        fleet = fleet.replace("  batch_size: 2\n", "  batch_size: 2\n  batch_by: host\n")
    s = parse_config(fleet).strategy
    assert (s.batch_by, s.batch_size.value, s.max_surge_per_host) in (
        ("host", 1, None), ("count", 1, 1), ("host", 2, None))


def test_router_host_names_a_host_the_ssh_runtime_reaches(tmp_path):
    (tmp_path / "ssh_config").write_text("Host lb1 lb-*\n  HostName 10.0.0.5\nHost app1\n")
    fleet = f"runtime: {{kind: ssh, hosts: [app1, app2], ssh_config: ssh_config}}\n"
    path = str(tmp_path / "zerodown.yaml")
    assert parse_config(BASE + fleet + "router: {kind: haproxy, host: lb1}\n",
                        file=path).router.host == "lb1"  # a Host of the ssh_config
    assert parse_config(BASE + fleet + "router: {kind: embedded, host: app2}\n",
                        file=path).router.host == "app2"  # one of runtime.hosts
    shared = parse_config(BASE + fleet + "router: {kind: embedded, host: lb1, shared: edge, "
                                         "hosts: [shop.test]}\n", file=path).router
    assert (shared.host, shared.options["shared"]) == ("lb1", "edge")  # a shared proxy there
    [error] = errors_of(BASE + fleet + "router: {kind: haproxy, host: lb9}\n", file=path)
    assert "router.host: 'lb9' is not a host zerodown can reach" in error
    assert "(app1, app2, lb1)" in error  # the valid names; lb-* is a pattern, not a name
    [error] = errors_of(BASE + "router: {kind: haproxy, host: lb1}\n")
    assert "router.host: a load balancer on another host is driven over the ssh runtime" in error
    assert parse_config(BASE + fleet + "router: {kind: nginx, host: lb1}\n",
                        file=path).router.host == "lb1"
    shadowed = BASE.replace("kind: rolling", "kind: canary\n  steps: [{shadow: {}}, {weight: 10}]")
    shadowed = "\n".join(l for l in shadowed.splitlines() if "max_" not in l) + "\n"
    assert parse_config(shadowed + "router: {kind: nginx}\n").router.kind == "nginx"
    [error] = errors_of(shadowed + fleet + "router: {kind: nginx, host: lb1}\n", file=path)
    assert "strategy.steps[0].shadow: nginx on router.host cannot mirror" in error
    [error] = errors_of(BASE + fleet + "router: {kind: haproxy, host: lb1, socket: /s, "
                        "backend: b}\n", file=path)
    assert "router.host: an attached HAProxy (router.socket) is driven where" in error


def test_the_starter_file_names_every_strategy_kind():
    from zerodown.strategies.options import STRATEGIES
    kind_line = next(line for line in starter_yaml().splitlines() if line.strip().startswith("kind:"))
    assert set(kind_line.split("#", 1)[1].replace("|", " ").split()) == set(STRATEGIES)


def test_router_body_timeout_is_loaded_for_embedded_and_nginx_and_refused_for_haproxy():
    kinds = {k["properties"]["kind"]["const"]: k for k in
             json_schema()["properties"]["router"]["anyOf"][1:]}
    for kind in ("embedded", "nginx"):
        cfg = parse_config(BASE + f"router: {{kind: {kind}, body_timeout: 30s}}\n")
        assert cfg.router.options == {"body_timeout": "30s"}
        assert "body_timeout" in kinds[kind]["properties"]
    assert "body_timeout" not in kinds["haproxy"]["properties"]
    [error] = errors_of(BASE + "router: {kind: haproxy, body_timeout: 30s}\n")
    assert error.startswith("zerodown.yaml:14: router.body_timeout: HAProxy has no timeout")
    [error] = errors_of(BASE + "router: {kind: nginx, body_timeout: soon}\n")
    assert error.startswith("zerodown.yaml:14: router.body_timeout: must be a duration")
