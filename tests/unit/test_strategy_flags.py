"""Strategy options from the command line: `--steps "10,pause 30s,50"`, `--max-surge 2`, a
change of kind that drops the file's options of the old kind, errors quoting what was typed."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from zerodown.cli import main
from zerodown.commands.strategy_flags import steps
from zerodown.strategies.kind_switch import kind_asked, strategy_overrides, switch_kind

EXAMPLE = Path(__file__).parents[2] / "examples" / "zerodown.yaml"


@pytest.mark.parametrize("text, parsed", [
    ("10", [{"weight": 10}]),
    ("10%, 50%", [{"weight": 10}, {"weight": 50}]),
    ("10,pause 30s,50", [{"weight": 10}, {"pause": "30s"}, {"weight": 50}]),
    ("5,pause,100", [{"weight": 5}, {"pause": {}}, {"weight": 100}]),
    ("0, pause 1m , 150", [{"weight": 0}, {"pause": "1m"}, {"weight": 150}]),  # range: config's
    ("shadow 30s,10,shadow", [{"shadow": {"duration": "30s"}}, {"weight": 10}, {"shadow": {}}]),
])
def test_steps_read_weights_and_pauses(text, parsed):
    assert steps(text) == parsed


@pytest.mark.parametrize("text, item", [("10,wait,50", "item 2 'wait'"), ("", "item 1 ''"),
                                        ("10,,50", "item 2 ''"), ("ten", "item 1 'ten'"),
                                        ("analysis", "item 1 'analysis'")])
def test_a_step_that_is_neither_is_named_with_what_was_typed(text, item):
    with pytest.raises(argparse.ArgumentTypeError) as e:
        steps(text)
    assert str(e.value).startswith(f"{text!r}: {item} is not a weight")


@pytest.mark.parametrize("section, kind, moved, dropped", [
    ({"kind": "rolling", "max_surge": 2, "max_unavailable": 0}, "canary",
     {"kind": "canary"}, ("max_surge", "max_unavailable")),
    ({"kind": "canary", "steps": [{"weight": 5}], "canary_instances": 1, "sticky": {}}, "ab-test",
     {"kind": "ab-test", "canary_instances": 1, "sticky": {}}, ("steps",)),
    ({"kind": "in-place", "batch_size": 1}, "in-place", {"kind": "in-place", "batch_size": 1}, ()),
    ("in-place", "rolling", {"kind": "rolling"}, ()),
    # in-place's batch_size counts instances; rolling's counts hosts, with batch_by: host only
    ({"kind": "in-place", "batch_size": 2}, "rolling", {"kind": "rolling"}, ("batch_size",)),
    ({"kind": "in-place", "batch_size": 2, "batch_by": "host"}, "rolling",
     {"kind": "rolling", "batch_size": 2, "batch_by": "host"}, ()),
    (None, "blue-green", {"kind": "blue-green"}, ()),
])
def test_a_change_of_kind_keeps_the_options_the_new_kind_has(section, kind, moved, dropped):
    assert switch_kind(section, kind) == (moved, dropped)


@pytest.mark.parametrize("strategy, settings, kind", [
    (None, [], None), ("canary", [], "canary"), (None, ["strategy.kind=canary"], "canary"),
    ("rolling", ["strategy.kind= 'ab-test'"], "ab-test"), (None, ["strategy.kind=sideways"], None),
    (None, ["strategy.max_surge=2"], None),
])
def test_the_kind_asked_is_the_last_one_said(strategy, settings, kind):
    assert kind_asked(strategy, settings) == kind


def test_the_same_kind_keeps_the_section_and_another_replaces_it_first():
    section = {"kind": "rolling", "max_surge": 2}
    assert strategy_overrides(section, "rolling", "rolling", ["x=1"]) == (["x=1"], ())
    extra, dropped = strategy_overrides(section, "rolling", None, ["strategy.kind=in-place"])
    assert extra == ['strategy={"kind": "in-place"}', "strategy.kind=in-place"]
    assert dropped == ("max_surge",)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["-f", str(EXAMPLE), *argv])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_plan_takes_canary_steps_from_flags_and_says_what_it_dropped(capsys):
    code, out, err = run(capsys, "plan", "v2", "--strategy", "canary", "--steps", "10,pause 30s,50")
    assert code == 0 and "canary 10% pause 30s 50%" in out
    assert err == ("note: strategy canary instead of the file's rolling: ignoring max_surge, "
                   "max_unavailable (not an option of canary)\n")
    code, out, err = run(capsys, "plan", "v2", "--set", "strategy.kind=in-place",
                         "--batch-size", "2")
    assert code == 0 and "in-place" in out and "ignoring max_surge" in err


def test_plan_shows_a_shadow_step_and_warns_when_unsafe_methods_are_copied(capsys):
    """(A first deploy: nothing to compare with, so the plan has no shadow step itself;
    tests/unit/test_shadow_step.py plans one beside a stable revision.)"""
    code, out, err = run(capsys, "plan", "v2", "--strategy", "canary", "--steps", "shadow 30s,10")
    assert code == 0 and "canary shadow 10%" in out and "warning" not in err
    code, out, err = run(capsys, "plan", "v2", "--strategy", "canary", "--set",
                         "strategy.steps=[{shadow: {methods: [GET, POST]}}, {weight: 10}]")
    assert code == 0
    assert "warning: strategy.steps[0].shadow.methods copies POST requests" in err


@pytest.mark.parametrize("argv, message", [
    (("--strategy", "canary", "--steps", "10,150"),
     "--steps '10,150': strategy.steps[1].weight: must be an integer from 0 to 100, got 150"),
    (("--max-surge", "lots"), '--max-surge lots: strategy.max_surge: must be a count or a '
                              'percentage like "25%" (a whole number from 0, or 0% to 100%), '
                              'got "lots"'),
    (("--strategy", "canary"), "--strategy canary: strategy.steps: is required for canary"),
    (("--set", "strategy.kind=canary"),
     "--set strategy.kind=canary: strategy.steps: is required for canary"),
    (("--split", "20"), "--split 20: strategy.split: is an option of strategy kind ab-test"),
    (("--steps", "10,wait"), "argument --steps: '10,wait': item 2 'wait' is not a weight"),
])
def test_a_bad_strategy_flag_is_named_as_typed(capsys, argv, message):
    code, out, err = run(capsys, "plan", "v2", *argv)
    assert code == 2 and message in err, err
