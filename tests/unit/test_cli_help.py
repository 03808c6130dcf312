"""Every command's --help ends with a worked example, and the flags the README lists parse."""

from __future__ import annotations

import pytest

from zerodown import cli
from zerodown.commands import PUBLIC, build_parser
from zerodown.strategies.options import STRATEGIES


@pytest.mark.parametrize("command", PUBLIC)
def test_every_command_help_has_an_example(command, capsys):
    try:
        code = cli.main([command, "--help"])
    except SystemExit as e:  # argparse's own --help
        code = e.code
    out = capsys.readouterr().out
    assert code == 0
    assert "examples:\n" in out, out
    assert f"  zerodown {command}" in out.split("examples:\n", 1)[1]


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_every_strategy_kind_is_accepted_by_strategy(kind):
    for command in ("deploy", "plan"):
        assert build_parser().parse_args([command, "v2", "--strategy", kind]).strategy == kind
