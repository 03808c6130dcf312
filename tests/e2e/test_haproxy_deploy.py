"""Deployments through a real HAProxy (router kind haproxy), under load, every response counted.

All four strategies, with a client that never retries: the configured strategy's preview
header, match rules and sticky split are in HAProxy's configuration from its start
(routers.expected_shape), so no deployment needs a reload; every change goes through the
Runtime API (servers, weights, maps).
"""

from __future__ import annotations


import pytest

from zerodown.engine.lifecycle import Phase
from tests.e2e.stack import FOUR_STRATEGIES
from tests.support.installed import needs

pytestmark = needs("haproxy")
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


RETRIES = "    retries 3\n    option redispatch 1\n    retry-on conn-failure empty-response\n"


@pytest.mark.parametrize("strategy", FOUR_STRATEGIES[:3])  # the canary's match and sticky: managed
def test_deployments_through_a_users_haproxy_leave_only_the_new_servers(stack_factory, tmp_path,
                                                                        strategy):
    """Attach mode (issue 11.15, 11.16): each deployment's old servers are deleted once
    drained, not left in MAINT, and `down` takes the last ones out of the user's backend."""
    from tests.support.haproxy import users_haproxy
    from tests.support.net import wait_until
    if "blue-green" in strategy:
        strategy = strategy.replace("}", ", preview_header: null}")
    with users_haproxy(tmp_path, defaults=RETRIES,
                       backend="    option httpchk GET /healthz\n") as theirs:
        port, socket_path = theirs.port, theirs.socket
        stack = stack_factory(instances=3, strategy=strategy, port=port,
                              router=f"{{kind: haproxy, socket: {socket_path}, backend: app}}")
        assert stack.deploy("v1") is Phase.SUCCEEDED
        phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=4)
        assert phase is Phase.SUCCEEDED
        assert result.failed() == 0, result.summary()
        from zerodown.routers.haproxy_runtime_api import parse_servers_state
        servers = lambda: {s.name for s in parse_servers_state(  # noqa: E731
            stack.router.cli.run("show servers state app"), backend="app")}
        routed = {b for b in stack.router.table().backends()}
        wait_until(lambda: servers() == routed, 10,
                   f"only r2's servers {sorted(routed)} left in the user's backend")
        stack.router.stop()  # zerodown down: the router, the instances, the router again
        for instance in stack.runtime.adopt("shop"):
            stack.runtime.stop(instance, grace=3)
        stack.router.stop()
        assert servers() == set()
        assert theirs.process.alive
