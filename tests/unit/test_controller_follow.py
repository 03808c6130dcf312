"""The observer's long-lived Controller lets go of drivers built from an older version of
zerodown.yaml (Controller.follow), and only then: rebuilt at each look, a fleet's runtime
would reconnect to every host four times a second."""

from __future__ import annotations

from zerodown.controller import Controller

FILE = "service: shop\nlisten: 127.0.0.1:{port}\napp: {{command: app}}\n"


def test_drivers_are_let_go_when_the_config_changed_only(tmp_path):
    path = tmp_path / "zerodown.yaml"
    path.write_text(FILE.format(port=8080))
    ctl = Controller(str(path))
    ctl.watched = ctl.watch()
    first = ctl.config()
    runtime, router = ctl.runtime(), ctl.router()
    ctl.follow(first)  # the drivers' own config: nothing let go
    ctl.follow(ctl.config())
    assert ctl.runtime() is runtime and ctl.router() is router
    path.write_text(FILE.format(port=8081))
    second = ctl.config()
    assert second is not first and second.listen == "127.0.0.1:8081"
    ctl.follow(second)
    assert ctl.router() is not router and ctl.router().listen == "127.0.0.1:8081"
    assert ctl.runtime() is not runtime
    ctl.close()
