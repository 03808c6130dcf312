"""A fleet host whose disk for the instances' logs fills up while they run, and stays full
for the next deployment.

Each instance writes into a pipe read by its log stamper (zerodown/hosts/stamper.py),
which writes the log file. With the disk full, the stamper ended at its first line; the
pipe then had no reader, and the instance's next line killed it (SIGPIPE: a program in
C, Go or Node, or Python restoring the default, as here): a full disk stopped every
instance there that logs, none of them restarted. An instance to start there was reported
as `cannot run '/usr/bin/python3': No space left on device` (the log's banner failed)."""

from __future__ import annotations

import shutil

from tests.support import APP
from tests.support.cli import Service
from tests.support.net import wait_until

LOGS = "/srv/zerodown/services/shop/logs"   # on the host (runtime.state_dir /srv/zerodown)

# The example app beside a thread writing a line of 1 kB every 50 ms to stdout (the last
# page of the log, which a full tmpfs still takes, fills within 4), SIGPIPE at its default
# (as most programs have it), and the count written so far to /tmp/ticks.
TICKING = """\
import os, runpy, signal, sys, threading, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
def tick():
    n = 0
    while True:
        n += 1
        os.write(1, b"tick %d %s\\n" % (n, b"." * 1000))
        with open("/tmp/ticks", "w") as f:
            f.write(str(n))
        time.sleep(0.05)
threading.Thread(target=tick, daemon=True).start()
sys.argv = ["app.py", *sys.argv[1:]]
runpy.run_path("app.py", run_name="__main__")
"""


def test_a_full_log_disk_costs_log_lines_never_the_instance(healthy_fleet, tmp_path):
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1)
                      .replace(f'"{APP}"', '"ticking.py"')
                      .replace("  env: {", "  release: releases/{version}\n  env: {"))
    release = tmp_path / "releases/v1"
    release.mkdir(parents=True)
    shutil.copy(APP, release / "app.py")
    (release / "ticking.py").write_text(TICKING)
    shutil.copytree(release, tmp_path / "releases/v2")
    host = healthy_fleet.hosts[1]
    mounted = host.run(f"mkdir -p {LOGS} && mount -t tmpfs -o size=256k tmpfs {LOGS}")
    assert mounted.returncode == 0, mounted.stderr
    try:
        s.run("up")
        [before] = [i for i in s.status()["instances"] if i["host"] == host.name]
        host.run(f"dd if=/dev/zero of={LOGS}/fill bs=4k")   # until the disk is full
        assert host.run(f"df -k {LOGS}").stdout.split()[-3] == "0", "the disk is not full"
        ticks = lambda: int(host.run("cat /tmp/ticks").stdout or 0)  # noqa: E731
        full_at = ticks()
        # 20 lines written with the disk full: the instance lives on (it died at the first)
        wait_until(lambda: ticks() > full_at + 20, timeout=10,
                   what="the instance writing 20 lines to a full disk")
        [during] = [i for i in s.status()["instances"] if i["host"] == host.name]
        assert (during["pid"], during["healthy"]) == (before["pid"], True), during
        assert s.text() == "hello from v1\n"
        host.run(f"rm {LOGS}/fill")   # room again: the log says what it lost, and goes on
        log = lambda: host.run(f"cat {LOGS}/{before['name']}.log").stdout  # noqa: E731
        note = "lines lost, the log could not be written: No space left on device\n"
        wait_until(lambda: note in log() and "tick" in log().split(note)[-1], timeout=10,
                   what="the note of the lines lost, and lines after it")

        # an instance to start there with the disk full: refused naming its log, rolled back
        host.run(f"dd if=/dev/zero of={LOGS}/fill2 bs=4k")
        deploy = s.run("deploy", "v2", code=None)
        said = deploy.stdout + deploy.stderr
        assert deploy.returncode != 0, said
        assert "cannot write its log /srv/zerodown/services/shop/logs/shop-r2-" in said, said
        assert "No space left on device; nothing was started" in said, said
        assert "cannot run" not in said, said   # it named the program, as if it were missing
        assert {(i["host"], i["version"]) for i in s.status()["instances"]} == \
            {(h.name, "v1") for h in healthy_fleet.hosts}
    finally:
        s.cleanup()
        host.run(f"umount {LOGS}; rm -f /tmp/ticks")
