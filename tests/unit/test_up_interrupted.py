"""Ctrl-C while `zerodown up` starts the load balancer or the controller says how to finish
or undo it (it said only `interrupted`, and could leave a proxy and a controller running,
unnamed), exit 130."""

from __future__ import annotations

from zerodown import cli
from zerodown.config import starter_yaml
from zerodown.controller import Controller


def test_ctrl_c_before_the_first_deployment_says_what_runs(tmp_path, monkeypatch, capsys):
    (tmp_path / "zerodown.yaml").write_text(starter_yaml())

    def interrupted(self, cfg=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(Controller, "ensure_router", interrupted)
    code = cli.main(["-f", str(tmp_path / "zerodown.yaml"), "up"])
    err = capsys.readouterr().err
    assert code == 130
    assert "interrupted before any version was deployed" in err, err
    assert "`zerodown up` again finishes" in err, err
    assert "`zerodown down` stops what started" in err, err
