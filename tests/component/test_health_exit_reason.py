"""An instance that exits before it is healthy: the deployment's error says how it ended and
its last log lines (a newcomer's v4 printed `boom: missing DB_URL` and exited 3, and the error
said only `exited before it became healthy (last: no answer yet ...; log: PATH)`)."""

from __future__ import annotations

import json
import re
import sys

import pytest

from tests.component.test_local_runtime import config, revision
from tests.support.cli import service, up  # noqa: F401
from zerodown.engine.runner import SystemClock
from zerodown.engine.health import HealthError, wait_healthy
from zerodown.model import Slot
from zerodown.runtimes.local import LocalRuntime

CRASH = "import sys\nprint('boom: missing DB_URL', file=sys.stderr, flush=True)\nsys.exit(3)\n"


def test_the_error_of_an_instance_that_exited_says_why(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    cfg = config(tmp_path, command=[sys.executable, str(script), "{port}"],
                 health={"interval": "100ms", "timeout": "1s", "start_timeout": "10s"})
    rt, rev = LocalRuntime(tmp_path / "state", cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    with pytest.raises(HealthError) as e:
        wait_healthy(rt, SystemClock(), [(inst, rev)])
    said = str(e.value)
    assert "exited before it became healthy" in said, said
    assert "exited with status 3" in said and "boom: missing DB_URL" in said, said
    assert said.count(str(rt.logs(inst))) == 1, f"its log named twice: {said}"


def test_deploy_shows_a_crashed_instance_s_log_lines_once_before_its_summary(up):
    """`zerodown deploy` of a release that exits at once said its error twice as it went
    (the plan's replacement and the phase's change each carried it) and once more at the
    end, and the first copy ended with "; rollback plan of 2 steps from step 3" glued to
    the app's last log line, as if the app had logged it."""
    s = up
    crash = json.dumps([sys.executable, "-c", CRASH.replace("\n", "; ")])
    done = s.run("deploy", "v2", "--set", f"app.command={crash}", code=1)
    out = done.stdout
    logged = r"\.\d{3} boom: missing DB_URL"  # the app's stamped line (not its command's)
    assert len(re.findall(logged, out)) == 2, out  # as it went, and in the summary
    progress, summary = out.split("\ndeployment ", 1)
    assert re.search(logged, progress) and re.search(logged, summary), out
    assert re.search(r"deployment \d+: rollback plan of 2 steps from step 3\n", out), out
    assert not re.search(logged + ".*; rollback plan", out), out
    assert "rolling_back: " in progress and "exited with status 3" in progress, out
