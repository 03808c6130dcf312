"""A deployment under https load: zerodown.yaml's tls: on each router, every response
counted (certificates made by the test with openssl)."""

from __future__ import annotations

import pytest

from tests.e2e.stack import Stack, write_config
from tests.support.certs import TestCA
from zerodown.engine.lifecycle import Phase
from zerodown.loadgen import LoadInBackground


@pytest.mark.parametrize("router", ["embedded", "{kind: haproxy}", "{kind: nginx}"])
def test_a_rolling_deployment_under_https_load_fails_no_request(tmp_path, router):
    ca = TestCA(tmp_path / "certs")
    leaf = ca.leaf("shop.test")
    path = write_config(tmp_path, instances=2, router=router)
    path.write_text(path.read_text() + f"\ntls: {{cert: {leaf.cert}, key: {leaf.key}}}\n")
    stack = Stack(path, tmp_path / "state")
    try:
        assert stack.config.url.startswith("https://")
        assert stack.deploy("v1") is Phase.SUCCEEDED
        with LoadInBackground(stack.config.url + "/", connections=4, duration=90,
                              cafile=str(ca.ca), server_name="shop.test") as load:
            load.wait_for_responses(200)
            phase = stack.deploy("v2")
            load.wait_for_responses(load.progress()[0] + 200)
            result = load.stop()
        assert phase is Phase.SUCCEEDED
        assert result.failed() == 0, result.summary()
        assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    finally:
        stack.close()
