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
    running = Controller(str(tmp_path / "zerodown.yaml"), kept=kept)  # a run, mid-step
    assert running.runtime().connections is connections
    (tmp_path / "zerodown.yaml").write_text(YAML.replace("zdf1, zdf2", "zdf1, zdf3"))
    third = Controller(str(tmp_path / "zerodown.yaml"), kept=kept)
    replacing = third.runtime().connections
    assert replacing is not connections, "made from other options"
    assert connections._loop.is_running(), "closed under the run still using it"
    running.close()
    assert not connections._loop.is_running(), "replaced, and no run holds it: closed"
    third.close()
    assert replacing._loop.is_running(), "the config's current set stays"
    kept.close()
    assert not replacing._loop.is_running()


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


class Made:
    def __init__(self, name: str):
        self.name, self.closed = name, False

    def close(self):
        self.closed = True


def test_a_replaced_set_is_closed_once_no_runtime_holds_it():
    kept = KeptConnections()
    options = {o: parse_config(YAML.replace("zdf1, zdf2", o)).runtime.options
               for o in ("zdf1", "zdf2", "zdf3")}
    a = kept.get(options["zdf1"], "/srv", lambda: Made("a"))
    assert kept.get(options["zdf1"], "/srv", lambda: Made("again")) is a  # held twice
    other = kept.get(options["zdf1"], "/other", lambda: Made("other"))   # another config
    b = kept.get(options["zdf2"], "/srv", lambda: Made("b"))             # the file edited
    kept.release(a)
    assert not a.closed, "one runtime still holds it"
    kept.release(a)
    assert a.closed and not a.kept, "replaced, and its last holder let it go"
    kept.release(b)
    assert not b.closed, "unheld, but the config's current set"
    c = kept.get(options["zdf3"], "/srv", lambda: Made("c"))
    assert b.closed and not c.closed, "replaced while no runtime held it: closed at once"
    assert not other.closed, "another folder's set is not replaced by this one's"
    kept.release(a)  # let go twice: nothing more happens
    assert kept.get(options["zdf1"], "/srv", lambda: Made("a2")).name == "a2", \
        "back to the first options: a closed set is never handed out again"
    kept.close()
    assert c.closed and other.closed
