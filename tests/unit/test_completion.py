"""`zerodown completion SHELL`: the bash script loads in a real bash and completes commands,
options and choices; zsh's is bash's through bashcompinit; fish's names every command."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from zerodown.commands import PUBLIC, build_parser
from zerodown.commands.completion import bash, fish, zsh


def complete(*words: str) -> list[str]:
    """What bash offers for `zerodown WORDS...` (the last word is the one being completed)."""
    script = bash(build_parser())
    array = " ".join(f"'{w}'" for w in ("zerodown", *words))
    probe = (f"{script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words)}; _zerodown; "
             'printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe], capture_output=True,
                         text=True, check=True)
    assert out.stderr == ""
    return out.stdout.split()


@pytest.mark.parametrize("words, expect", [
    (("dep",), ["deploy"]),
    (("st",), ["status"]),
    (("",), list(PUBLIC)),
    (("--file", "x.yaml", "hist"), ["history"]),
    (("deploy", "v2", "--str"), ["--strategy"]),
    (("deploy", "v2", "--strategy", "ca"), ["canary"]),
    (("plan", "v2", "--st"), ["--state-dir", "--strategy", "--steps"]),
    (("status", "--j"), ["--json"]),
    (("token", "re"), ["revoke"]),
    (("completion", "f"), ["fish"]),
    (("logs", "pro"), ["proxy"]),
])
def test_bash_completes_commands_options_and_choices(words, expect):
    offered = complete(*words)
    assert set(expect) <= set(offered) and (len(expect) > 1 or offered == expect), offered


def test_zsh_uses_the_bash_script_through_bashcompinit():
    script = zsh(build_parser())
    assert "bashcompinit" in script and script.endswith(bash(build_parser()))


def test_fish_names_every_command_and_its_options():
    script = fish(build_parser())
    for name in PUBLIC:
        assert f"-n '__fish_use_subcommand' -a {name} " in script, name
    assert ("complete -c zerodown -n '__fish_seen_subcommand_from deploy' -l strategy -r -f "
            "-a 'in-place rolling blue-green canary ab-test'") in script
    if shutil.which("fish"):
        subprocess.run(["fish", "--no-execute", "-c", script], check=True)


def test_the_command_prints_the_script(capsys):
    from zerodown.cli import main
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == bash(build_parser())
