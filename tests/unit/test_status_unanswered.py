"""A controller that accepts the connection and does not answer is busy, not gone: `zerodown
status` says so once, naming it and where to look, instead of waiting the client's timeout,
taking the controller for dead and waiting as long again on the same one."""

from __future__ import annotations

import socket

import pytest

from tests.support.net import silent_listener
from zerodown.api.client import Client, Unanswered
from zerodown.commands import build_parser, status
from zerodown.commands.status import _text


@pytest.fixture
def mute(tmp_path):
    """A unix socket that accepts and never answers (a controller stuck in a long call)."""
    path = tmp_path / ".zerodown" / "controller.sock"
    path.parent.mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    with silent_listener(server):
        yield path


def test_a_client_says_no_answer_within_its_timeout(mute):
    with pytest.raises(Unanswered, match=r"the controller is busy: no answer on unix:.*controller.sock within 0.2s"):
        Client(socket_path=str(mute), timeout=0.2).text("/api/v1/status")


def test_status_asks_a_busy_controller_once(mute, tmp_path, monkeypatch):
    (tmp_path / "zerodown.yaml").write_text("service: web\n")
    (mute.parent / "zerodown.db").write_text("")  # deployed here once: a dead one is started
    asked_again = []
    monkeypatch.setattr(status, "client", lambda *a, **k: asked_again.append(a) or Stop())
    args = build_parser().parse_args(["-f", str(tmp_path / "zerodown.yaml"), "status"])
    with pytest.raises(Unanswered) as e:
        _text(Client(socket_path=str(mute), timeout=0.2), args)
    assert "the controller is busy: no answer on unix:" in str(e.value)
    assert "zerodown logs controller" in str(e.value)
    assert asked_again == [], "a busy controller was taken for a dead one and asked again"


class Stop:
    """What the status command would ask next, if it took the controller for dead."""

    def text(self, path):
        raise Unanswered("asked again")
