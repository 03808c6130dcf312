"""A rolling deployment under HTTP/2 load: `tls: {http2: true}` on each router, h2load
(nghttp2) sending over h2 the whole time, every response counted."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import pytest

from tests.e2e.stack import Stack, write_config
from tests.support.certs import TestCA
from zerodown.engine.lifecycle import Phase

H2LOAD = shutil.which("h2load")


class H2Load:
    """h2load in back-to-back runs of `seconds` until stopped: the counts of all runs."""

    def __init__(self, url: str, seconds: float = 2.0):
        self.url, self.seconds = url, seconds
        self.runs: list[dict] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.done.is_set():
            out = subprocess.run([H2LOAD, "-t", "1", "-c", "4", "-m", "8", "-D",
                                  f"{self.seconds:g}", self.url], capture_output=True,
                                 text=True, timeout=self.seconds + 60).stdout
            counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) "
                               r"succeeded, (\d+) failed, (\d+) errored", out)
            codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
            proto = re.search(r"Application protocol: (\S+)", out)
            assert counts and codes, out
            self.runs.append({"done": int(counts.group(2)), "ok": int(codes.group(1)),
                              "failed": int(counts.group(4)) + int(counts.group(5)),
                              "not_2xx": sum(int(codes.group(i)) for i in (2, 3, 4)),
                              "protocol": proto.group(1) if proto else "?", "out": out})

    def __enter__(self) -> H2Load:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(self.seconds + 70)

    def total(self, key: str) -> int:
        return sum(r[key] for r in self.runs)


def curl_h2(stack: Stack, ca: TestCA) -> str:
    """The response head curl gets over TLS asking for h2 (ALPN), the name shop.test."""
    port = stack.config.listen.rsplit(":", 1)[1]
    return subprocess.run(["curl", "-sS", "--http2", "--cacert", str(ca.ca), "--resolve",
                           f"shop.test:{port}:127.0.0.1", "-D", "-", "-o", "/dev/null",
                           f"https://shop.test:{port}/"],
                          capture_output=True, text=True, timeout=20).stdout


@pytest.mark.skipif(H2LOAD is None, reason="h2load (nghttp2-client) is installed by setup.sh")
# Not nginx: as zerodown runs it (keepalive_timeout 0, so that a reload loses no HTTP/1.1
# request) it closes an h2 connection whenever no stream is open, and h2load counted the
# streams it had just sent there as failed (224 of ~250); with keepalive_timeout 5s, a few
# per reload (GOAWAY races; h2load never retries). See docs/proxy.md; nginx's h2 is checked
# below with curl only.
@pytest.mark.parametrize("router", ["embedded", "{kind: haproxy}"])
def test_a_rolling_deployment_under_h2_load_fails_no_request(tmp_path, router):
    ca = TestCA(tmp_path / "certs")
    leaf = ca.leaf("shop.test")
    path = write_config(tmp_path, instances=2, router=router)
    path.write_text(path.read_text()
                    + f"\ntls: {{cert: {leaf.cert}, key: {leaf.key}, http2: true}}\n")
    stack = Stack(path, tmp_path / "state")
    try:
        assert stack.deploy("v1") is Phase.SUCCEEDED
        url = stack.config.url + "/"
        with H2Load(url) as load:
            while not load.runs:  # one whole run before the deployment starts
                load.thread.join(0.2)
            phase = stack.deploy("v2")
            runs_then = len(load.runs)
            while len(load.runs) < runs_then + 1:  # and one whole run after it
                load.thread.join(0.2)
        assert phase is Phase.SUCCEEDED
        assert {r["protocol"] for r in load.runs} == {"h2"}, load.runs[0]["out"]
        assert load.total("done") > 100
        assert load.total("failed") == 0 and load.total("not_2xx") == 0, \
            [r["out"] for r in load.runs if r["failed"] or r["not_2xx"]][:1]
        served = curl_h2(stack, ca)
        assert served.startswith("HTTP/2 200") and "x-version: v2" in served.lower(), served
    finally:
        stack.close()


def test_nginx_serves_h2_with_tls_http2(tmp_path):
    ca = TestCA(tmp_path / "certs")
    leaf = ca.leaf("shop.test")
    path = write_config(tmp_path, instances=1, router="{kind: nginx}")
    path.write_text(path.read_text()
                    + f"\ntls: {{cert: {leaf.cert}, key: {leaf.key}, http2: true}}\n")
    stack = Stack(path, tmp_path / "state")
    try:
        assert stack.deploy("v1") is Phase.SUCCEEDED
        served = curl_h2(stack, ca)
        assert served.startswith("HTTP/2 200") and "x-version: v1" in served.lower(), served
    finally:
        stack.close()
