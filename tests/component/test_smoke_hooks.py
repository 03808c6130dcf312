"""Smoke tests before traffic, for rolling and canary as for blue/green: a before_traffic hook
reaches each new instance directly through $ZERODOWN_INSTANCES, and a canary's preview header
reaches the new revision through the load balancer while users still get the stable one."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.cli import Service

SMOKE = """\
import json, os, sys, urllib.request
open_url = urllib.request.build_opener(urllib.request.ProxyHandler({})).open
out = {"instances": {}}
for address in os.environ["ZERODOWN_INSTANCES"].split():
    out["instances"][address] = open_url(f"http://{address}/").read().decode()
header = os.environ["ZERODOWN_PREVIEW_HEADER"]  # empty on a first deploy: no preview
if header:
    url = os.environ["ZERODOWN_URL"] + "/"
    out["preview"] = open_url(urllib.request.Request(url, headers={header: "1"})).read().decode()
    out["public"] = open_url(url).read().decode()
json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.mark.parametrize("strategy, preview", [
    ("{kind: rolling, max_surge: 1, max_unavailable: 0}", False),
    ("{kind: canary, preview_header: X-Zerodown-Preview, steps: [{weight: 50}]}", True)])
def test_a_before_traffic_smoke_test_reaches_the_new_instances(tmp_path, strategy, preview):
    (tmp_path / "smoke.py").write_text(SMOKE)
    out = tmp_path / "smoke.json"
    s = Service(tmp_path, extra=(
        "hooks:\n  before_traffic:\n"
        f"    - command: [{json.dumps(sys.executable)}, {json.dumps(str(tmp_path / 'smoke.py'))},"
        f" {json.dumps(str(out))}]\n"))
    s.file.write_text(s.file.read_text().replace(
        "strategy: {kind: rolling, max_surge: 1, max_unavailable: 0}", f"strategy: {strategy}"))
    try:
        s.run("up")
        s.run("deploy", "v2")
        seen = json.loads(out.read_text())
        new = [i["address"] for i in s.status()["instances"] if i["revision"] == 2]
        assert seen["instances"] and set(seen["instances"]) <= set(new)
        assert set(seen["instances"].values()) == {"hello from v2\n"}
        if preview:
            assert seen["preview"] == "hello from v2\n"  # the header reaches the canary at 0%
            assert seen["public"] == "hello from v1\n"  # users do not, yet
    finally:
        left = s.cleanup()
    assert not left, f"processes left after the test: {left}"
