"""The controller's status (daemon/observer.py) judges whether an instance's host is still
listed by runtime.hosts as the file has it now: a newcomer took app2 off the list, and
`plan` said `(on app2 (not listed))` while `status` went on saying `app2` until the
controller was restarted (it had read the file once, as it started)."""

from __future__ import annotations

import dataclasses
import os

from tests.unit.test_instance_host import KNOWN, row
from zerodown.controller import Controller
from zerodown.daemon.observer import Observer, placed
from zerodown.gather import instance_view

FILE = """\
service: shop
listen: 127.0.0.1:8080
app: {{command: "python3 app.py --port {{port}}"}}
runtime: {{kind: ssh, hosts: [{hosts}]}}
"""


def test_an_edit_of_runtime_hosts_reaches_status_without_a_restart(tmp_path):
    path = tmp_path / "zerodown.yaml"
    path.write_text(FILE.format(hosts="app1, app2"))
    ctl = Controller(str(path))
    ctl.watched = ctl.watch()  # as the daemon's (daemon/main.py)
    observer = Observer(ctl, lambda: None)
    assert observer.listed_hosts() == ("app1", "app2")

    path.write_text(FILE.format(hosts="app1"))
    os.utime(path, ns=(1, 1))  # a changed stamp, whatever the clock's granularity
    assert observer.listed_hosts() == ("app1",)

    path.write_text("service: [half an edit")  # mid-edit: the last list read stands
    os.utime(path, ns=(2, 2))
    assert observer.listed_hosts() == ("app1",)

    path.write_text(FILE.format(hosts="app3, app1"))
    os.utime(path, ns=(3, 3))
    assert observer.listed_hosts() == ("app3", "app1")


def test_a_probes_look_keeps_its_health_and_takes_the_host_as_read_now():
    """The probes (a thread of their own) judged `listed` by the list the controller
    started with: status showed theirs, so the edit did not show until a restart."""
    then = dataclasses.replace(instance_view("shop", row(1, "app2"), KNOWN, ("app1", "app2")),
                               healthy=True, health="healthy")
    now = instance_view("shop", row(1, "app2"), KNOWN, ("app1",))
    shown = placed(then, now)
    assert (shown.host, shown.host_listed, shown.healthy, shown.health) == \
        ("app2", False, True, "healthy")
    older = instance_view("shop", row(1, None), KNOWN, ("app1", "app2"))  # no host recorded:
    assert placed(older, instance_view("shop", row(1, None), KNOWN, ("app3", "app1"))).host \
        == "app1"                                                         # today's rule
