"""The controller daemon's ssh runtimes share their connections (runtimes/kept.py): the
Controller of each API request and of each run takes them from the daemon's
KeptConnections instead of opening its own, and does not close them."""

from __future__ import annotations

from tests.unit.test_host_running import YAML as HOSTS_YAML
from zerodown.config import parse_config
from zerodown.controller import Controller
from zerodown.runtimes.kept import KeptConnections

YAML = HOSTS_YAML.replace("zdf3, zdf1", "zdf1, zdf2")  # (its service, app, runtime ssh)


def test_each_controller_takes_the_kept_connections_and_leaves_them_open(tmp_path):
    (tmp_path / "zerodown.yaml").write_text(YAML)
    kept = KeptConnections()
    first = Controller(str(tmp_path / "zerodown.yaml"), kept=kept)
    connections = first.runtime().connections
    first.close()
    assert connections.kept and connections._loop.is_running(), "closed with its controller"
    second = Controller(str(tmp_path / "zerodown.yaml"), kept=kept)
    assert second.runtime().connections is connections
    second.close()
    (tmp_path / "zerodown.yaml").write_text(YAML.replace("zdf1, zdf2", "zdf1, zdf3"))
    third = Controller(str(tmp_path / "zerodown.yaml"), kept=kept)
    assert third.runtime().connections is not connections, "made from other options"
    third.close()
    kept.close()
    assert not connections._loop.is_running()


def test_a_controller_of_its_own_closes_its_connections(tmp_path):
    (tmp_path / "zerodown.yaml").write_text(YAML)
    ctl = Controller(str(tmp_path / "zerodown.yaml"))
    connections = ctl.runtime().connections
    ctl.close()
    assert not connections._loop.is_running()


def test_the_same_options_share_one_connections():
    kept, made = KeptConnections(), []

    class Made:
        def close(self):
            made.remove(self)

    def make():
        made.append(Made())
        return made[-1]
    options = parse_config(YAML).runtime.options
    assert kept.get(options, "/srv", make) is kept.get(options, "/srv", make)
    assert kept.get(options, "/other", make) is not made[0] and len(made) == 2
    kept.close()
    assert made == []
