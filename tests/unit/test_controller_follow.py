"""The observer's long-lived Controller lets go of drivers built from an older version of
zerodown.yaml (Controller.follow), and only then: rebuilt at each look, a fleet's runtime
would reconnect to every host four times a second."""

from __future__ import annotations

import pytest

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


def test_a_driver_built_from_an_older_version_than_the_others_is_let_go(tmp_path):
    """An edit between two drivers' builds (the observer's tick: the runtime built from the
    file as it is now, the router from the config the tick read before the edit): following
    the new version lets the router go, not kept for ever as the runtime's config's."""
    path = tmp_path / "zerodown.yaml"
    path.write_text(FILE.format(port=8080))
    ctl = Controller(str(path))
    ctl.watched = ctl.watch()
    first = ctl.config()
    path.write_text(FILE.format(port=8081))
    runtime = ctl.runtime()  # from the file as it is now
    old_router = ctl.router(first)
    assert old_router.listen == "127.0.0.1:8080"
    ctl.follow(ctl.config())
    assert ctl.router() is not old_router and ctl.router().listen == "127.0.0.1:8081"
    assert ctl.runtime() is runtime  # its own config's: kept
    ctl.close()


FLEET = ("service: shop\nlisten: 127.0.0.1:8080\napp: {{command: [app, --port, \"{{port}}\"]}}\n"
         "runtime: {{kind: ssh, hosts: [{hosts}]}}\n")


def test_a_runtime_let_go_still_answers_until_the_next_edit(tmp_path):
    """Another thread may be mid-look on the runtime follow() lets go (the observer's tick
    and the API's requests share the Controller): it is closed at the next edit, not under
    that look — closed at once, its pool refused the look's next round trip and status
    failed once after each edit of the hosts."""
    path = tmp_path / "zerodown.yaml"
    path.write_text(FLEET.format(hosts="app1, app2"))
    ctl = Controller(str(path))
    ctl.watched = ctl.watch()
    old = ctl.runtime()
    path.write_text(FLEET.format(hosts="app1, app2, app3"))
    ctl.follow(ctl.config())
    assert ctl.runtime() is not old
    assert old.every_host.submit(lambda: "answered").result(5) == "answered"
    newer = ctl.runtime()
    path.write_text(FLEET.format(hosts="app1"))
    ctl.follow(ctl.config())  # the next edit: the first let go is closed now
    with pytest.raises(RuntimeError):
        old.every_host.submit(lambda: "answered")
    assert newer.every_host.submit(lambda: "answered").result(5) == "answered"
    ctl.close()  # and the one let go last, with the current one
    with pytest.raises(RuntimeError):
        newer.every_host.submit(lambda: "answered")
