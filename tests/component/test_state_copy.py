"""A copy of a service's folder with its state directory (`cp -a` of a project, a backup
restored beside it) is not the original: a `down` there stopped the original's proxy and
instances by the pids its records name. Now the records say which directory wrote them
(hosts/instances.py InstanceTable.elsewhere, routers/common.py elsewhere), and those of
another directory that still exists are neither adopted nor stopped from the copy."""

from __future__ import annotations

import shutil
import subprocess

from tests.support import get
from tests.support.cli import Service, alive, ours, service, up  # noqa: F401 (fixtures)


def test_down_in_a_copy_stops_nothing_of_the_original(up, tmp_path_factory):
    copy = tmp_path_factory.mktemp("copy") / "shop"
    subprocess.run(["cp", "-a", str(up.root), str(copy)], check=True)
    clone = Service.__new__(Service)  # the copied folder as it is: its file, its state
    clone.__dict__.update(up.__dict__, root=copy, file=copy / "zerodown.yaml",
                          state_dir=copy / ".zerodown", background=[])
    before = ours(up.state_dir)
    instances = up.pids()
    assert len(instances) == 2 and instances <= set(before)
    try:
        status = clone.status()
        assert all(i["health"] != "healthy" for i in status["instances"]), status
        clone.run("down")
        assert all(alive(pid) for pid in before), "the copy's down stopped the original's"
        assert get(up.port, "/").status == 200 and up.pids() == instances
    finally:
        left = ours(clone.state_dir)
        shutil.rmtree(copy, ignore_errors=True)
    assert not left, f"the copy started processes of its own and left them: {left}"
