"""Deployments through a real HAProxy (router kind haproxy), under load, every response counted.

All four strategies, with a client that never retries: the configured strategy's preview
header, match rules and sticky split are in HAProxy's configuration from its start
(routers.expected_shape), so no deployment needs a reload; every change goes through the
Runtime API (servers, weights, maps).
"""

from __future__ import annotations

import os
import shutil

import pytest

from zerodown.engine.lifecycle import Phase
from tests.e2e.stack import FOUR_STRATEGIES

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None and os.environ.get("CI") != "true",
                                reason="haproxy is not installed (bash scripts/setup.sh installs "
                                "it); never skipped under CI")
CONNECTIONS = 8


@pytest.mark.parametrize("strategy", FOUR_STRATEGIES)
def test_a_deployment_through_haproxy_fails_no_request(stack_factory, strategy):
    stack = stack_factory(instances=3, strategy=strategy, router="{kind: haproxy}")
    assert type(stack.router).__name__ == "HAProxyRouter"
    assert stack.deploy("v1") is Phase.SUCCEEDED
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=CONNECTIONS)
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    assert len(stack.pids()) == 3
    served = stack.router.stats()["revisions"]
    assert sum(r["requests"] for r in served.values()) >= result.sent
