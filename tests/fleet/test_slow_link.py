"""A slow link to one host mid-deployment (tc tbf: Fleet.slow), on the real fleet: the
deployment still completes with no request failed, or, on a link too slow for a
command's answer to arrive within runtime.command_timeout, pauses naming the host
(on_host_failure) and finishes once resumed on a good link. It never hangs."""

from __future__ import annotations

import time

from tests.fleet.test_host_faults import assert_one_per_slot, fleet_stack  # noqa: F401
from zerodown.engine.lifecycle import Phase


def slow_at_step(stack, fleet, host, rate: str, index: int = 2) -> list:
    """Slow the link to `host` to `rate` as step `index` of the next deployment begins."""
    slowed: list = []

    def listener(event):
        if not slowed and event.kind == "step.started" and event.data.get("index", -1) >= index:
            fleet.slow(host, rate)
            slowed.append(event.data["index"])
    stack.store.listeners.append(listener)
    return slowed


def test_a_deployment_over_a_slow_link_to_one_host_completes_under_load(
        fleet_stack, healthy_fleet):  # noqa: F811
    stack = fleet_stack()
    assert stack.deploy("v1") is Phase.SUCCEEDED
    victim = healthy_fleet.hosts[1]
    slowed = slow_at_step(stack, healthy_fleet, victim, "256kbit")
    began = time.monotonic()
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=8, duration=90)
    took = time.monotonic() - began
    assert slowed, "the link was never slowed: the test proves nothing"
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    assert took < 60, f"the deployment took {took:.1f}s over a 256 kbit/s link"
    assert_one_per_slot(stack)


def test_a_link_too_slow_for_an_answer_pauses_at_command_timeout_then_resumes(
        fleet_stack, healthy_fleet):  # noqa: F811
    stack = fleet_stack(more="  command_timeout: 2s\n")  # the runtime: section ends the file
    assert stack.deploy("v1") is Phase.SUCCEEDED
    victim = healthy_fleet.hosts[1]
    slowed = slow_at_step(stack, healthy_fleet, victim, "1kbit")  # ~125 bytes a second
    d = stack.engine.deploy("v2")
    began = time.monotonic()
    phase = stack.engine.run(d)
    took = time.monotonic() - began
    assert slowed, "the link was never slowed: the test proves nothing"
    error = stack.store.deployment(d).error
    assert phase is Phase.PAUSED, error
    assert f"host {victim.name} stopped answering" in error, error
    assert took < 45, f"paused only after {took:.1f}s"
    healthy_fleet.unslow(victim)
    stack.engine.resume(d)
    assert stack.engine.run(d) is Phase.SUCCEEDED
    assert_one_per_slot(stack)
