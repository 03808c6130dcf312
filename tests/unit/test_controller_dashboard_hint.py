"""`zerodown controller` tells how to open the dashboard the way the README does: the
token in the URL's fragment (#token=), which the browser never sends to a server; and
when zerodown.yaml's controller.listen is not in force (added while the controller ran),
it says so and how to bring it in."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from zerodown.commands import daemon
from zerodown.daemon.process import listen_note

URL = "http://127.0.0.1:7070/dashboard/"


class FakeClient:
    socket_path = "/srv/web/.zerodown/controller.sock"

    def __init__(self, dashboard=URL):
        self.dashboard = dashboard

    def get(self, path):
        return {"service": "web", "dashboard": self.dashboard}


def controller(monkeypatch, capsys, dashboard, listen):
    monkeypatch.setattr(daemon.process, "ensure", lambda *a: FakeClient(dashboard))
    monkeypatch.setattr(daemon.process, "pid", lambda state_dir: 4242)
    args = argparse.Namespace(foreground=False, stop=False, api_listen=None)
    config = argparse.Namespace(controller=argparse.Namespace(listen=listen))
    ctl = argparse.Namespace(file=Path("zerodown.yaml"), state_dir=Path(".zerodown"),
                             config=lambda: config)
    assert daemon.cmd_controller(args, ctl) == 0
    return capsys.readouterr()


def test_the_hint_puts_the_token_in_the_fragment(monkeypatch, capsys):
    out = controller(monkeypatch, capsys, URL, "127.0.0.1:7070").out
    assert f"{URL}#token=TOKEN" in out
    assert "?token" not in out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "/dashboard/#token=TOKEN" in readme


def test_a_listen_added_to_the_file_of_a_running_controller_is_told(monkeypatch, capsys):
    err = controller(monkeypatch, capsys, None, "127.0.0.1:7070").err
    assert "controller.listen 127.0.0.1:7070 is not in force" in err
    assert "`zerodown controller --stop`" in err


@pytest.mark.parametrize("listen, dashboard, told", [
    (None, None, False),
    (None, URL, False),                        # --api-listen at its start: not the file's
    ("127.0.0.1:7070", URL, False),
    ("7070", URL, False),
    ("0.0.0.0:7070", URL, False),              # shown as 127.0.0.1
    ("127.0.0.1:7070", None, True),            # added after the controller started
    ("127.0.0.1:7071", URL, True),             # changed since
])
def test_listen_note(listen, dashboard, told):
    note = listen_note(listen, dashboard)
    assert (note is not None) == told, note
    if told and dashboard:
        assert "it listens at http://127.0.0.1:7070" in note
