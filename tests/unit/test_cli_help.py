"""Every command's --help ends with a worked example, and every command line the README and
docs/ show parses: in code blocks, and in a sentence (`zerodown controller --stop`)."""

from __future__ import annotations

import re

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


def documented_command_lines() -> list[str]:
    """Every `zerodown ...` line of a code block in the README and docs/, and every --help
    example: what a newcomer copies. Pseudo-syntax (a|b, [opt], ...) is left out."""
    from pathlib import Path

    from zerodown.commands.examples import EXAMPLES
    repo = Path(__file__).resolve().parents[2]
    lines = [line for lines in EXAMPLES.values() for line in lines]
    for page in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        block = False
        for line in page.read_text().splitlines():
            if line.startswith("```"):
                block = not block
            elif block:
                lines += [part.strip() for part in line.split("#")[0].split(" ; ")]
            else:  # `zerodown controller --stop` in a sentence is copied too (not a bare name)
                lines += [span for span in re.findall(r"`(zerodown [^`]+)`", line)
                          if len(span.split()) > 2 or span.split()[1].startswith("-")]
    out = []
    for line in lines:
        line = line.removeprefix(".venv/bin/").split(" > ")[0].rstrip(" &")
        if line.startswith("zerodown ") and not any(c in line for c in "|[") and "..." not in line:
            out.append(line)
    return out


def test_every_documented_command_line_parses():
    import shlex

    from zerodown.proxy import main as proxy_main, table_cli
    lines = documented_command_lines()
    assert len(lines) > 20
    for line in lines:
        argv = shlex.split(line)[1:]
        if argv in (["--version"], ["proxy", "--help"]):
            continue  # they print and exit 0
        try:
            if argv[0] == "proxy" and argv[1] in table_cli.COMMANDS:
                table_cli.parser().parse_args(argv[1:])
            elif argv[0] == "proxy":
                proxy_main.parse_args(argv[1:])
            elif argv[0] not in ("accel", "demo"):
                build_parser().parse_args(argv)
        except SystemExit as e:
            raise AssertionError(f"a documented command is refused: {line}") from e


def test_the_top_help_says_what_every_command_is(capsys):
    try:
        cli.main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out.split("positional arguments:", 1)[1].split("options:", 1)[0]
    described = {line.split()[0] for line in out.splitlines()
                 if line.startswith("    ") and not line.startswith("     ")
                 and len(line.split()) > 1}
    assert set(PUBLIC) <= described, sorted(set(PUBLIC) - described)


def test_every_option_of_every_command_is_in_the_readme_or_docs():
    import argparse
    from pathlib import Path
    repo = Path(__file__).resolve().parents[2]
    text = "".join(p.read_text() for p in [repo / "README.md", *(repo / "docs").glob("*.md")])
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = sorted(f"{name} {option}" for name, parser in sub.choices.items()
                     for action in parser._actions if action.help != argparse.SUPPRESS
                     for option in action.option_strings
                     if option.startswith("--") and option != "--help" and option not in text)
    assert not missing, f"not in README.md nor docs/: {missing}"


def test_no_command_takes_an_option_its_help_hides():
    """An option a command accepts is in its --help: `status --interval 0` was refused naming
    --interval, which `status --help` did not show."""
    import argparse
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    hidden = sorted(f"{name} {action.option_strings[0]}" for name, parser in sub.choices.items()
                    for action in parser._actions
                    if action.option_strings and action.help == argparse.SUPPRESS)
    assert not hidden, f"accepted, but not in --help: {hidden}"
