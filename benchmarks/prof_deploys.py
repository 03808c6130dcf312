"""Scratch: N rolling deployments without load on the test fleet, for a profiler."""
import sys, tempfile, time, os
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.fleet_deploy import config_text, HOSTS
from tests.e2e.stack import Stack
from tests.support.fleet import Fleet

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
with Fleet(HOSTS) as fleet, tempfile.TemporaryDirectory(prefix="zd-prof-") as tmp:
    path = Path(tmp) / "zerodown.yaml"
    path.write_text(config_text(fleet, "rolling", "20ms"))
    fleet.forget_owners()
    stack = Stack(path, Path(tmp) / "state")
    try:
        stack.deploy("v1")
        stack.deploy("v2")
        open("/tmp/prof/ready", "w").write(str(os.getpid()))
        time.sleep(1.0)
        took = []
        for i in range(3, 3 + n):
            t = time.monotonic()
            id = stack.engine.deploy(f"v{i}")
            stack.engine.run(id)
            took.append(time.monotonic() - t)
            time.sleep(0.3)
        print("deploys ms:", " ".join(f"{x*1000:.0f}" for x in took))
    finally:
        stack.close()
