"""A service whose state directory is deep (pytest's own temp folders can be): every unix
socket zerodown binds or connects to — the controller's API, the embedded proxy's admin
and handover sockets, HAProxy's stats and master sockets — is over the 107-byte limit of
a socket's address there, and all work through short links (zerodown/socket_path.py):
`up`, `status`, a deployment and `down`, with each load balancer. `up` with HAProxy failed
('stats socket path ... is 116 bytes'), and the controller could not start at all."""

from __future__ import annotations

import os
import socket

import pytest

from tests.support.cli import Service
from zerodown import socket_path
from zerodown.socket_path import UNIX_PATH_MAX, short


def deep(root):
    folder = root / ("deep-" * 12) / ("deeper-" * 6)
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("router", ["embedded", "nginx", "haproxy"])
def test_up_deploy_status_and_down_in_a_deep_state_directory(tmp_path, router):
    s = Service(deep(tmp_path), f"router: {{kind: {router}}}\n")
    assert len(os.fsencode(s.state_dir / "controller.sock")) > UNIX_PATH_MAX
    try:
        assert "shop is up: r1 (v1) serves" in s.run("up").stdout
        assert s.text() == "hello from v1\n"
        s.run("deploy", "v2")
        assert s.text() == "hello from v2\n"
        assert {i["version"] for i in s.status()["instances"]} == {"v2"}
        s.run("down")
    finally:
        left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


def test_a_long_path_is_bound_and_connected_to_through_a_short_link(tmp_path):
    folder = deep(tmp_path)
    path = str(folder / "some.sock")
    assert len(os.fsencode(path)) > UNIX_PATH_MAX
    bound = short(path)
    assert len(os.fsencode(bound)) <= UNIX_PATH_MAX and bound == short(path), "one name"
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(short(path))
        server.listen()
        assert os.path.exists(path), "the socket file is where it was put"
        client.connect(short(path))
        server.accept()[0].close()
    assert short(str(tmp_path / "s.sock")) == str(tmp_path / "s.sock"), "a short one as it is"


def test_a_name_too_long_even_through_a_link_is_refused_naming_it(tmp_path):
    path = str(tmp_path / ("x" * 120 + ".sock"))
    with pytest.raises(socket_path.UsageError) as e:
        short(path)
    assert str(e.value) == (f"unix socket path {path} is {len(os.fsencode(path))} bytes, over "
                            f"the {UNIX_PATH_MAX}-byte limit of unix sockets; use a shorter "
                            f"state directory")
