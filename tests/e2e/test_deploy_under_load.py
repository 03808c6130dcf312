"""Deployments through real processes and the real proxy, under load, every response counted."""

from __future__ import annotations

import pytest

from zerodown.engine.lifecycle import Phase
from tests.e2e.stack import alive, kill_controller_then_resume

CONNECTIONS = 8


@pytest.mark.parametrize("strategy", [
    "{kind: rolling, max_surge: 1, max_unavailable: 0}",
    "{kind: rolling, max_surge: 0, max_unavailable: 1}",
    "{kind: in-place, batch_size: 1}",
])
def test_a_deployment_under_load_fails_no_request(stack_factory, strategy):
    stack = stack_factory(instances=3, strategy=strategy)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    old = stack.pids()
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=CONNECTIONS)
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    assert not any(alive(pid) for pid in old)  # every v1 process is gone
    assert len(stack.pids()) == 3


def test_a_version_that_never_gets_healthy_is_rolled_back_under_load(stack_factory):
    stack = stack_factory(instances=2)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    phase, result = stack.under_load(lambda: stack.deploy(
        "v2", overrides=["app.env.APP_UNHEALTHY=1", "health.start_timeout=2s"]),
        connections=CONNECTIONS)
    assert phase is Phase.ROLLED_BACK
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1"}  # v2 never got a request
    assert len(stack.pids()) == 2


def test_a_controller_killed_mid_deployment_is_resumed_without_loss(stack_factory):
    stack = stack_factory(instances=3)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    v1 = stack.pids()
    resumed, result = stack.under_load(lambda: kill_controller_then_resume(stack, kill_at=3),
                                       connections=CONNECTIONS)
    assert list(resumed.values()) == [Phase.SUCCEEDED], resumed
    assert result.failed() == 0, result.summary()
    assert not any(alive(pid) for pid in v1)
    live = stack.pids()
    assert len(live) == 3 and all(alive(p) for p in live)  # no duplicate, no orphan
    assert {i.revision for i in stack.runtime.adopt("shop")} == {stack.store.stable("shop")[0]}


def test_a_table_set_by_hand_far_ahead_is_taken_back_under_load(stack_factory):
    """Issue 11.6: after a table with `version: 1000000` was PUT to the proxy, every deploy
    failed as "older than the one in force". The next one takes the proxy back instead."""
    import dataclasses
    stack = stack_factory(instances=2)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    held = dataclasses.replace(stack.router.client.table(), version=1_000_000)
    assert stack.router.apply(held)
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=4)
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    table = stack.router.client.table()
    assert table.epoch == 1 and table.version < 1_000_000  # versions count again from 1
    assert [r.name for r in table.revisions] == ["r2"]
