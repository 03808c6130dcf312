"""The README's first command: `zerodown demo` ships every strategy under load, failing nothing."""

from __future__ import annotations

from zerodown import demo


def test_the_demo_ships_every_strategy_under_load_and_fails_no_request(tmp_path, capsys):
    assert demo.run(tmp_path) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "succeeded" in line]
    assert [r.split("  ")[0].strip() for r in rows] == [label for label, _ in demo.STRATEGIES]
    assert all(r.split()[r.split().index("succeeded") + 3] == "0" for r in rows), out  # failed
    blue_green = next(r for r in rows if r.startswith("blue/green"))
    assert "switch" in blue_green and "throughout" in blue_green and " 0%" in blue_green
    assert ", 0 failed" in out
