"""`zerodown proxy --help` says what every tunable bounds, and docs/proxy.md names every flag
and quotes its default right."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from zerodown.proxy import main as proxy_main
from zerodown.proxy.settings import ProxySettings

PROXY_MD = Path(__file__).resolve().parents[2] / "docs" / "proxy.md"


def proxy_help(capsys) -> str:
    with pytest.raises(SystemExit):
        proxy_main.parse_args(["--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("f", dataclasses.fields(ProxySettings), ids=lambda f: f.name)
def test_every_tunable_says_what_it_bounds(f, capsys):
    flag = "--" + f.name.replace("_", "-")
    text = proxy_help(capsys)
    after = text.split(flag + " ", 1)[1]
    meaning = after.split(" ", 1)[1].split("(default", 1)[0].strip()
    assert len(meaning) > 10, f"{flag} has no words in --help: {after[:80]!r}"


def test_every_proxy_flag_is_in_docs_proxy_md(capsys):
    flags = set(re.findall(r"(--[a-z0-9][a-z0-9-]+)", proxy_help(capsys))) - {"--help"}
    missing = sorted(flag for flag in flags if f"`{flag}" not in PROXY_MD.read_text())
    assert not missing, f"docs/proxy.md does not name {missing}"


# `--eject-base`, 1 s · `--body-buffer-limit` (64 KiB · `--max-attempts` (3
SAID_DEFAULT = re.compile(r"`--([a-z-]+)`,? \(?(\d+(?:\.\d+)?) ?(ms|s|KiB|MiB|GiB)?\b")
UNITS = {"": 1, "s": 1, "ms": 0.001, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def test_every_default_the_pages_quote_for_a_flag_is_the_proxys():
    """docs/proxy.md and the README say a tunable's default beside its flag (`--eject-max`
    (30 s ...)): each figure is ProxySettings' own, so a default changed in the code
    cannot leave the page quoting the old one."""
    defaults = {f.name.replace("_", "-"): f.default for f in dataclasses.fields(ProxySettings)}
    pages = [PROXY_MD, PROXY_MD.parents[1] / "README.md"]
    quoted = [(f"{page.name}:{number}", flag, float(figure) * UNITS[unit])
              for page in pages
              for number, line in enumerate(page.read_text().splitlines(), 1)
              for flag, figure, unit in SAID_DEFAULT.findall(line) if flag in defaults]
    assert len(quoted) >= 10, quoted  # the pattern still finds them
    wrong = [f"{where}: --{flag} said {said:g}, is {defaults[flag]}"
             for where, flag, said in quoted if said != defaults[flag]]
    assert not wrong, "\n".join(wrong)
