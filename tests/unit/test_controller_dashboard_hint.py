"""`zerodown controller` tells how to open the dashboard the way the README does: the
token in the URL's fragment (#token=), which the browser never sends to a server."""

from __future__ import annotations

import argparse
from pathlib import Path

from zerodown.commands import daemon

URL = "http://127.0.0.1:7070/dashboard/"


class FakeClient:
    socket_path = "/srv/web/.zerodown/controller.sock"

    def get(self, path):
        return {"service": "web", "dashboard": URL}


def test_the_hint_puts_the_token_in_the_fragment(monkeypatch, capsys):
    monkeypatch.setattr(daemon.process, "ensure", lambda *a: FakeClient())
    monkeypatch.setattr(daemon.process, "pid", lambda state_dir: 4242)
    args = argparse.Namespace(foreground=False, stop=False, api_listen=None)
    ctl = argparse.Namespace(file=Path("zerodown.yaml"), state_dir=Path(".zerodown"))
    assert daemon.cmd_controller(args, ctl) == 0
    out = capsys.readouterr().out
    assert f"{URL}#token=TOKEN" in out
    assert "?token" not in out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "/dashboard/#token=TOKEN" in readme
