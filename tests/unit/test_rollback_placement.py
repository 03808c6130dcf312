"""A rollback goes to a revision recorded with the runtime.hosts of its day, but its
instances start where today's runtime puts them: its plan's batches (`batch_by: host`)
group slots by today's hosts, so a batch never spans two real hosts (the undo of a
failed deployment plans by the same `target_for`). On fakes placing slot i on today's
hosts[i % n] (test_step_hosts' world)."""

from __future__ import annotations

from tests.support.unit_config import shop_config
from tests.unit.test_step_hosts import engine_on, world  # noqa: F401 - a fixture
from zerodown.engine.lifecycle import Phase
from zerodown.model import host_for
from zerodown.plan import Start

FIRST, TODAY = ("app1", "app2", "app3"), ("app3", "app1")
BY_HOST = "{kind: in-place, batch_by: host, batch_size: 1}"


def config(hosts):
    return shop_config(instances="4", strategy=BY_HOST,
                       runtime=f"{{kind: ssh, hosts: [{', '.join(hosts)}]}}")


def start_hosts(e, d) -> list[set[str]]:
    """The real hosts (today's placement) of each Start step's instances."""
    return [{host_for(TODAY, r.slot.index) for r in s.instances}
            for s in e.store.deployment(d).steps if isinstance(s, Start)]


def test_a_rollback_after_the_list_changed_batches_by_todays_hosts(world):
    first = engine_on(world, FIRST, config)
    for version in ("v1", "v2"):
        assert first.run(first.deploy(version)) is Phase.SUCCEEDED
    now = engine_on(world, TODAY, config)     # runtime.hosts lost app2; r1 recorded FIRST
    d = now.rollback()
    assert now.run(d) is Phase.SUCCEEDED
    batches = start_hosts(now, d)
    assert all(len(hosts) == 1 for hosts in batches), batches   # by r1's list: app1 and app3
    assert {"app1", "app3"} == set().union(*batches)            # at once, in the first batch



def per_host_config(hosts):
    return shop_config(instances=str(2 * len(hosts)),
                       strategy="{kind: rolling, max_surge: 1, max_unavailable: 0}",
                       runtime=f"{{kind: ssh, hosts: [{', '.join(hosts)}], "
                               f"instances_per_host: 2}}")


def test_a_rollback_runs_the_revisions_instances_per_host_on_todays_hosts(world):
    """r1 recorded 2 per host on 3 hosts (6 instances); rolled back to on today's 2 hosts
    it runs 2 per host (4), as its rule says, not its day's 6 crowded 3 to a host (rolling
    ends evenly spread over today's hosts)."""
    first = engine_on(world, FIRST, per_host_config)
    for version in ("v1", "v2"):
        assert first.run(first.deploy(version)) is Phase.SUCCEEDED
    now = engine_on(world, TODAY, per_host_config)
    d = now.rollback()
    assert now.run(d) is Phase.SUCCEEDED
    live = now.store.instances("shop", live=True)
    assert {ref.revision for ref in live} == {1}
    assert sorted(row.runs_on for row in live.values()) == ["app1", "app1", "app3", "app3"]


def test_a_fixed_instances_count_stays_on_a_rollback(world):
    """`instances: 4` is the fleet's total, whatever its hosts: 4 after the list shrank."""
    first = engine_on(world, FIRST, config)
    for version in ("v1", "v2"):
        assert first.run(first.deploy(version)) is Phase.SUCCEEDED
    now = engine_on(world, TODAY, config)
    assert now.run(now.rollback()) is Phase.SUCCEEDED
    live = now.store.instances("shop", live=True)
    assert {ref.revision for ref in live} == {1} and len(live) == 4
