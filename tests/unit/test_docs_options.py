"""Every `--option` the README and docs/ name is one a zerodown command takes, and every
`zerodown WORD` they name is a command: an option renamed or dropped (or a command) cannot
stay in a sentence (`--refuse-methods`, `zerodown hosts --forget`), where the check of
whole command lines (tests/unit/test_cli_help.py) does not look. The options of other
tools the pages quote are listed below, each with whose it is."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from pathlib import Path

from zerodown import cli
from zerodown.commands import build_parser
from zerodown.proxy import table_cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")
# in a sentence `zerodown WORD`; in a code block also a line's first word, `$(zerodown WORD`
SAID_COMMAND = re.compile(r"`zerodown ([a-z][\w-]*)")
RUN_COMMAND = re.compile(r"(?:^|`|\$\(|[ /])zerodown ([a-z][\w-]*)")

OTHERS = {
    "--quick": "the user's ./smoke.sh a hook runs",
    "--deploy-hook": "certbot's",
    "--rounds": "benchmarks/chaos_bench.py's", "--seed": "benchmarks/chaos_bench.py's",
    "--start-delay": "the benchmarks' (an app ready that long after its start)",
    "--serve": "the fleet agent's argv (hosts/agent.py)", "--idle": "the fleet agent's argv",
    "--primary": "Kamal's",
    "--scope-cookie-paths": "kamal-proxy's",
    "--unix-socket": "curl's", "--data": "curl's",
}


def walked(parser: argparse.ArgumentParser) -> set[str]:
    out = set()
    for action in parser._actions:
        out |= set(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= walked(sub)
    return out


def help_of(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        with contextlib.suppress(SystemExit):
            cli.main(argv)
    return out.getvalue().split("examples:", 1)[0]


def zerodowns_options() -> set[str]:
    """Every command's options; `proxy`, `accel` and `demo` parse their own (their --help)."""
    found = walked(build_parser()) | walked(table_cli.parser())
    for command in cli.PASS_THROUGH:
        found |= set(OPTION.findall(help_of([command, "--help"])))
    return found


def named(prose: re.Pattern[str], code: re.Pattern[str]) -> list[tuple[str, str]]:
    """(page:line, what) for each match in the pages: `prose` out of code blocks, `code` in."""
    out = []
    for page in PAGES:
        block = False
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                block = not block
            elif block:  # a comment in a block is words: `prose` there
                run, _, comment = line.partition("#")
                out += [(f"{page.relative_to(ROOT)}:{number}", found)
                        for found in {*code.findall(run), *prose.findall(comment)}]
            else:
                out += [(f"{page.relative_to(ROOT)}:{number}", found)
                        for found in prose.findall(line)]
    return out


def test_every_option_named_is_a_commands_or_anothers():
    options = zerodowns_options()
    assert {"--refuse-methods", "--fleet", "--allow-downtime", "--forget"} <= options
    said = named(OPTION, OPTION)
    assert len(said) > 200, len(said)  # the pattern still finds them
    unknown = [f"{where}: {option}" for where, option in said
               if option not in options and option not in OTHERS]
    assert not unknown, "no command takes:\n" + "\n".join(unknown)


def test_every_other_tools_option_listed_is_still_quoted():
    """The list of others' options cannot keep one no page quotes, which would let a
    zerodown option of that name pass unchecked once gone."""
    quoted = {option for _, option in named(OPTION, OPTION)}
    assert set(OTHERS) <= quoted, set(OTHERS) - quoted
    assert not set(OTHERS) & zerodowns_options(), set(OTHERS) & zerodowns_options()


def test_every_zerodown_command_named_is_one():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    commands = set(sub.choices)
    said = named(SAID_COMMAND, RUN_COMMAND)
    assert len(said) > 200, len(said)
    unknown = [f"{where}: zerodown {word}" for where, word in said if word not in commands]
    assert not unknown, "no such command:\n" + "\n".join(unknown)

