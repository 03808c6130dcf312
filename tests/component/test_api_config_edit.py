"""zerodown.yaml edited under a running controller (real daemon, real sockets): every
request sees the file as it is now, without a restart; an invalid edit is answered with
the file's error naming the key (status goes on with the last version that loaded, and
says why); what only a restart takes is named (config_watch.py, daemon/observer.py)."""

from __future__ import annotations

import os
import re

import pytest

from tests.component.test_api import Raw
from tests.support import HOST, free_port
from tests.support.cli import Service
from tests.support.net import wait_until


@pytest.fixture
def served(tmp_path):
    s = Service(tmp_path)
    assert "shop is up" in s.run("up").stdout
    original = s.file.read_text()
    yield s
    s.file.write_text(original)  # `down` as the service was brought up
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


def edit(s: Service, old: str, new: str) -> None:
    text = s.file.read_text()
    assert old in text
    s.file.write_text(text.replace(old, new, 1))


def controller_pid(s: Service) -> int:
    return int((s.state_dir / "controller.pid").read_text())


def test_an_edit_shows_in_status_without_a_restart(served):
    raw, pid = Raw(served), controller_pid(served)
    before = raw.ok("GET", "/api/v1/status?fresh=1")
    assert before["config_error"] is None and before["restart_needed"] == []
    moved = f"{HOST}:{free_port()}"
    edit(served, f"listen: {HOST}:{served.port}", f"listen: {moved}")
    listen = free_port()
    served.file.write_text(served.file.read_text() +
                           f"controller: {{listen: '{HOST}:{listen}'}}\n")
    now = raw.ok("GET", "/api/v1/status?fresh=1")
    assert now["listen"] == moved
    assert [n.split(":")[0] for n in now["restart_needed"]] == ["controller.listen"]
    # the cached document (the dashboard's) follows within a tick or so
    wait_until(lambda: raw.ok("GET", "/api/v1/status")["listen"] == moved, timeout=5,
               what="the observer's own look at the edited file")
    _, _, text = raw("GET", "/api/v1/status?format=text")
    assert f"restart needed: controller.listen: zerodown.yaml now says {HOST}:{listen}" \
        in text.decode()
    edit(served, "service: shop", "service: shop2")
    renamed = raw.ok("GET", "/api/v1/status?fresh=1")
    assert renamed["service"] == "shop" and renamed["instances"]  # what it runs, still shown
    assert renamed["restart_needed"][0].startswith(
        "service: zerodown.yaml now names shop2; this controller runs shop")
    assert controller_pid(served) == pid


def test_an_invalid_edit_is_answered_with_the_files_error(served):
    raw, pid = Raw(served), controller_pid(served)
    good = served.file.read_text()
    edit(served, "instances: 2", "instances: zero")
    status = raw.ok("GET", "/api/v1/status?fresh=1")  # a look: what runs, and why it is old
    assert status["service"] == "shop" and len(status["instances"]) == 2
    assert str(served.file) in status["config_error"] and "instances" in status["config_error"]
    _, _, text = raw("GET", "/api/v1/status?format=text")
    assert "zerodown.yaml does not load; status as of its last version that did: " \
        in text.decode()
    code, _, answer = raw("POST", "/api/v1/deployments", {"version": "v2"})
    assert code == 400, answer
    assert re.search(r"zerodown\.yaml:\d+: instances: ", answer["error"]["message"]), answer
    assert "Traceback" not in answer["error"]["message"]
    assert raw.ok("GET", "/api/v1/deployments?limit=5")["deployments"][0]["id"] == 1
    # the CLI says the same, and exits as for any config error
    done = served.run("deploy", "v2", code=None)
    assert done.returncode != 0 and "instances" in done.stderr and "Traceback" not in done.stderr

    served.file.write_text(good.replace("instances: 2", "instances: 3"))
    os.utime(served.file)
    assert raw.ok("GET", "/api/v1/status?fresh=1")["config_error"] is None
    served.run("deploy", "v2")
    assert len(served.pids(revision=2)) == 3  # the edit the deployment ran by
    assert controller_pid(served) == pid
