"""A service under a path prefix on a shared proxy, as a user runs it (issue 16 leftovers):
`up` checks its health through the proxy under the prefix (the proxy strips it), and its
hooks reach it, not the listener's other service, with `curl -H "Host: $ZERODOWN_HOST"
"$ZERODOWN_URL/..."` (ZERODOWN_URL: the listener here plus the prefix)."""

from __future__ import annotations

import json

from tests.support import get
from tests.support.cli import ours
from tests.e2e.test_shared_proxy import shared_service

HOOK = ('curl -fsS -H "Host: $ZERODOWN_HOST" "$ZERODOWN_URL/version" >> hooks.out '
        '&& echo " $ZERODOWN_MOMENT $ZERODOWN_URL $ZERODOWN_HOST" >> hooks.out')


def test_hooks_of_a_prefixed_service_reach_it_through_the_shared_proxy(tmp_path):
    shared = tmp_path / "proxies"
    www = shared_service(tmp_path / "www", "www", "example.test", shared)
    api = shared_service(tmp_path / "api", "api", "example.test", shared, www.port)
    api.file.write_text(api.file.read_text().replace(
        "hosts: [example.test]}", "hosts: [example.test], path_prefix: /api}"))
    try:
        www.run("up", "--version", "w1")
        assert "api is up" in api.run("up", "--version", "a1").stdout
        # hooks from the second deployment on: before the first one's traffic nothing serves
        api.file.write_text(api.file.read_text()
                            + f"hooks:\n  before_traffic:\n    - command: {json.dumps(HOOK)}\n"
                              f"  after_traffic:\n    - command: {json.dumps(HOOK)}\n")
        host = {"Host": "example.test"}
        assert json.loads(get(www.port, "/api/version", headers=host).text)["version"] == "a1"
        assert json.loads(get(www.port, "/version", headers=host).text)["version"] == "w1"
        out = api.run("deploy", "a2").stdout
        assert "succeeded" in out, out
        lines = (api.root / "hooks.out").read_text().splitlines()
        answers = [json.loads(line[:line.rindex("}") + 1]) for line in lines]
        said = [line[line.rindex("}") + 1:].split() for line in lines]
        # every hook's request reached api (a1 before its traffic; a1 or a2 after), never www
        assert [a["version"] for a in answers][-2] == "a1"
        assert {a["version"] for a in answers} <= {"a1", "a2"}, answers
        assert said[-1] == ["after_traffic", f"http://127.0.0.1:{www.port}/api",
                            f"example.test:{www.port}"]
        assert said[-2][0] == "before_traffic"
    finally:
        left = {**api.cleanup(), **www.cleanup(), **ours(shared / "edge")}
    assert not left, f"processes left after the test: {left}"
