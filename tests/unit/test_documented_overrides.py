"""Every `zerodown deploy|plan` line the README, docs/ and the --help examples show makes a
valid configuration out of the starter zerodown.yaml: what a newcomer copies works.

(README's `deploy v3 --strategy ab-test --split 20 --set strategy.sticky.max_age=3600`
was refused: the A/B test's default sticky cookie was not tuned, but replaced by a
sticky without mode nor name.)
"""

from __future__ import annotations

import shlex

import pytest

from zerodown.commands import build_parser, strategy_flags
from zerodown.config import apply_overrides, parse_config, starter_yaml
from zerodown.daemon.actions import overrides
from zerodown.model import Sticky

from test_cli_help import documented_command_lines

# Lines whose file is not the starter's by design (a fleet, another router)
NEEDS_ANOTHER_FILE = ("batch_by", "router.", "runtime.")


def deploy_lines() -> list[str]:
    return sorted({line for line in documented_command_lines()
                   if line.split()[1:2] in (["deploy"], ["plan"])
                   and not any(word in line for word in NEEDS_ANOTHER_FILE)})


def configured(line: str):
    args = build_parser().parse_args(shlex.split(line)[1:])
    cfg = parse_config(starter_yaml())
    settings, typed = strategy_flags.settings(args)
    return apply_overrides(cfg, overrides(cfg, args.strategy, settings), typed)


@pytest.mark.parametrize("line", deploy_lines())
def test_a_documented_deploy_line_configures_the_starter_file(line):
    configured(line)  # a ConfigError fails the test, naming the key


def test_there_are_lines_to_check():
    assert any("ab-test" in line for line in deploy_lines())
    assert len(deploy_lines()) >= 5


def test_a_sticky_key_tunes_the_ab_tests_default_cookie():
    cfg = configured("zerodown deploy v3 --strategy ab-test --split 20 "
                     "--set strategy.sticky.max_age=3600")
    assert cfg.strategy.sticky == Sticky("cookie", "zerodown_ab", 3600)


def test_a_sticky_of_another_mode_is_said_whole():
    from zerodown.errors import ConfigError
    with pytest.raises(ConfigError, match="strategy.sticky.name"):
        configured("zerodown deploy v3 --strategy ab-test --set strategy.sticky.mode=header")
