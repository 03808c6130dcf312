"""A first `zerodown up` whose version cannot start (its release folder missing) is refused
before anything starts: it started the proxy and the controller, then said the folder was
missing, leaving both running unnamed."""

from __future__ import annotations

from zerodown import cli
from zerodown.commands.service import starter
from zerodown.controller import Controller


def test_a_first_up_checks_the_version_before_starting_anything(tmp_path, monkeypatch, capsys):
    (tmp_path / "zerodown.yaml").write_text(starter("web", 8080))  # init's, no releases/
    started = []
    monkeypatch.setattr(Controller, "ensure_router", lambda self, cfg=None: started.append(1))
    code = cli.main(["-f", str(tmp_path / "zerodown.yaml"), "up"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"release folder {tmp_path / 'releases' / 'v1'} does not exist" in err, err
    assert "zerodown.yaml:" in err and "app.cwd" in err, err
    assert started == [], "the load balancer was started for a version that cannot start"


def test_on_a_fleet_app_cwd_is_the_hosts_and_not_checked_here(tmp_path, monkeypatch):
    """runtime ssh without app.release: the code is on the hosts, app.cwd a folder there."""
    text = starter("web", 8080).replace("  cwd: releases/{version}", "  cwd: /srv/app/{version}")
    text += "runtime: {kind: ssh, hosts: [app1], known_hosts: known_hosts}\n"
    (tmp_path / "zerodown.yaml").write_text(text)
    (tmp_path / "known_hosts").write_text("")  # read by up's check of the files it names

    def stop_here(self, cfg=None):
        raise KeyboardInterrupt  # past the check: what starts next is not this test's
    monkeypatch.setattr(Controller, "ensure_router", stop_here)
    import zerodown.runtimes
    asked = []   # the hosts' pre-flight (tests/fleet: test_fleet_deploy.py), not this test's
    monkeypatch.setattr(zerodown.runtimes, "_fleet_ready",
                        lambda cfg, controller: asked.append(cfg))
    assert cli.main(["-f", str(tmp_path / "zerodown.yaml"), "up"]) == 130
    assert [c.runtime.kind for c in asked] == ["ssh"], "a first up asks every host first"
