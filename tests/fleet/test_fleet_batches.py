"""Rolling host by host on the real fleet: 5 instances over 3 hosts (2, 2, 1), each host's new
instances healthy before its old ones drain, the next host after, under load."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.stack import Stack
from tests.support.net import free_port
from zerodown.engine.lifecycle import Phase
from zerodown.model import host_for
from zerodown.plan import Drain, Start, Stop, WaitHealthy


@pytest.fixture
def five_over_three(healthy_fleet, tmp_path):
    path = tmp_path / "zerodown.yaml"
    text = healthy_fleet.service_config(free_port(), "{kind: rolling, batch_by: host, "
                                                     "max_surge: 2, max_surge_per_host: 2}")
    path.write_text(text.replace("instances: 6", "instances: 5")
                    .replace("  instances_per_host: 2\n", ""))
    stack = Stack(path, tmp_path / "state")
    yield stack
    stack.close()


def test_rolling_by_host_replaces_one_host_after_another_failing_no_request(five_over_three,
                                                                             healthy_fleet):
    stack = five_over_three
    names = tuple(h.name for h in healthy_fleet.hosts)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=6, duration=60)
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    running = stack.runtime.adopt("shop")
    assert {i.version for i in running} == {"v2"}
    assert Counter(host_for(names, i.slot.index) for i in running) == {
        names[0]: 2, names[1]: 2, names[2]: 1}   # the even share, not a multiple of the hosts

    d = max(stack.store.deployments("shop"), key=lambda d: d.id)
    done = {r.index: r for r in stack.store.steps(d.id)}
    spans: dict[str, dict[str, tuple[float, float]]] = {}
    for index, step in enumerate(d.steps):
        if isinstance(step, (Start, WaitHealthy, Drain, Stop)):
            [host] = {host_for(names, r.slot.index) for r in step.instances}  # one host a step
            span = spans.setdefault(host, {})
            kind = type(step).__name__
            start, end = span.get(kind, (float("inf"), 0.0))
            span[kind] = (min(start, done[index].started_at), max(end, done[index].finished_at))
    assert list(spans) == list(names), "hosts in slot order"
    for host, span in spans.items():   # its new ones healthy before its old ones drain
        assert span["WaitHealthy"][1] <= span["Drain"][0], host
    for a, b in zip(names, names[1:]):  # a host done before the next one starts
        assert spans[a]["Stop"][1] <= spans[b]["Start"][0], (a, b)
