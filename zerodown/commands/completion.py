"""`zerodown completion bash|zsh|fish`: a completion script made from the parser itself, so
it knows every command, option and choice the parser does (no list kept by hand).

    eval "$(zerodown completion bash)"     # in ~/.bashrc
    eval "$(zerodown completion zsh)"      # in ~/.zshrc (bash's completion through bashcompinit)
    zerodown completion fish > ~/.config/fish/completions/zerodown.fish
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

SHELLS = ("bash", "zsh", "fish")
FILE_OPTIONS = ("-f", "--file", "--token-file", "--state-dir")
EXTRA_WORDS = {"logs": ("proxy", "controller")}  # instance names change: `zerodown status`
# commands with parsers of their own (cli.PASS_THROUGH): their first words
PASS_THROUGH = {"proxy": ("table", "deploy", "list", "--listen", "--admin", "--state"),
                "accel": ("build", "status"), "demo": ("--fleet",)}


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    words: tuple[str, ...] = ()  # choices of its positional arguments


def _options(p: argparse.ArgumentParser) -> tuple[Option, ...]:
    return tuple(Option(tuple(a.option_strings), (a.help or "").replace("%%", "%"),
                        a.nargs != 0, tuple(a.choices or ()))
                 for a in p._actions if a.option_strings and a.help != argparse.SUPPRESS)


def model(parser: argparse.ArgumentParser) -> tuple[tuple[Option, ...], tuple[Command, ...]]:
    """(the global options, every command) as the parser has them."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help or "" for c in sub._choices_actions}
    commands = []
    for name, p in sub.choices.items():
        words = tuple(c for a in p._actions if not a.option_strings and a.choices
                      for c in a.choices) + EXTRA_WORDS.get(name, ())
        commands.append(Command(name, helps.get(name, ""), _options(p), words))
    commands += [Command(name, f"zerodown {name} --help says", (), words)
                 for name, words in PASS_THROUGH.items() if name not in sub.choices]
    return _options(parser), tuple(commands)


def _words(options) -> str:
    return " ".join(n for o in options for n in o.names)


def bash(parser: argparse.ArgumentParser) -> str:
    globals_, commands = model(parser)
    valued = sorted({n for o in globals_ for n in o.names if o.takes_value})
    choices = {n: o.choices for c in commands for o in c.options for n in o.names if o.choices}
    lines = ["# zerodown completion for bash: eval \"$(zerodown completion bash)\"",
             "_zerodown() {",
             '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
             '    local cmd="" i',
             "    for ((i = 1; i < COMP_CWORD; i++)); do",
             '        case "${COMP_WORDS[i]}" in',
             f"            {'|'.join(valued)}) ((i++)) ;;",
             "            -*) ;;",
             '            *) cmd="${COMP_WORDS[i]}"; break ;;',
             "        esac",
             "    done",
             '    case "$prev" in',
             f"        {'|'.join(FILE_OPTIONS)}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;"]
    for name, values in sorted(choices.items()):
        lines.append(f"        {name}) COMPREPLY=($(compgen -W {shlex.quote(' '.join(values))} "
                     "-- \"$cur\")); return ;;")
    lines += ["    esac", '    case "$cmd" in',
              f"        \"\") COMPREPLY=($(compgen -W "
              f"{shlex.quote(' '.join(c.name for c in commands) + ' ' + _words(globals_))} "
              "-- \"$cur\")) ;;"]
    for c in commands:
        words = " ".join((*c.words, _words(c.options)))
        lines.append(f"        {c.name}) COMPREPLY=($(compgen -W {shlex.quote(words)} "
                     "-- \"$cur\")) ;;")
    lines += ["    esac", "}", "complete -o default -F _zerodown zerodown", ""]
    return "\n".join(lines)


def zsh(parser: argparse.ArgumentParser) -> str:
    return ("# zerodown completion for zsh: eval \"$(zerodown completion zsh)\"\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash(parser))


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(o: Option, condition: str) -> str:
    parts = ["complete -c zerodown", f"-n {_fish_quote(condition)}"]
    for n in o.names:
        parts.append(f"-l {n[2:]}" if n.startswith("--") else f"-s {n[1:]}")
    if o.takes_value:
        parts.append("-r -F" if set(o.names) & set(FILE_OPTIONS) else "-r")
    if o.choices:
        parts.append(f"-f -a {_fish_quote(' '.join(o.choices))}")
    parts.append(f"-d {_fish_quote(o.help.split('(')[0].strip()[:60])}")
    return " ".join(parts)


def fish(parser: argparse.ArgumentParser) -> str:
    globals_, commands = model(parser)
    names = " ".join(c.name for c in commands)
    lines = ["# zerodown completion for fish: zerodown completion fish > "
             "~/.config/fish/completions/zerodown.fish",
             "complete -c zerodown -f"]
    lines += [_fish_option(o, "__fish_use_subcommand") for o in globals_]
    for c in commands:
        lines.append(f"complete -c zerodown -n '__fish_use_subcommand' -a {c.name} "
                     f"-d {_fish_quote(c.help[:60])}")
        seen = f"__fish_seen_subcommand_from {c.name}"
        if c.words:
            lines.append(f"complete -c zerodown -n {_fish_quote(seen)} "
                         f"-a {_fish_quote(' '.join(c.words))}")
        lines += [_fish_option(o, seen) for o in c.options]
    lines.append(f"# commands: {names}")
    return "\n".join(lines) + "\n"


def cmd_completion(args: argparse.Namespace, ctl=None) -> int:
    from zerodown.commands import build_parser
    print({"bash": bash, "zsh": zsh, "fish": fish}[args.shell](build_parser()), end="")
    return 0
