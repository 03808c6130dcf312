"""`zerodown proxy --help` says what every tunable bounds, and docs/proxy.md names every flag."""

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
