"""An instance that exits before it is healthy: the deployment's error says how it ended and
its last log lines (a newcomer's v4 printed `boom: missing DB_URL` and exited 3, and the error
said only `exited before it became healthy (last: no answer yet ...; log: PATH)`)."""

from __future__ import annotations

import sys

import pytest

from tests.component.test_local_runtime import config, revision
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
    assert "process exited with code 3" in said and "boom: missing DB_URL" in said, said
