"""What the engine relies on from every Router (zerodown.protocols.Router).

Run against each driver registered in conftest.ROUTERS (the fake today;
`embedded`, `haproxy` and `nginx` when they exist). The engine's crash safety
rests on these: apply() takes the whole table and is idempotent, versions only
go forward, and drained() tells when a backend that left has nothing in flight.
"""

from __future__ import annotations

import dataclasses

import pytest

from zerodown.engine.draining import look
from zerodown.errors import StaleTableError
from zerodown.fakes import FakeRouter
from zerodown.model import Backend, RevisionRoute, RoutingTable, Rule, Sticky
from zerodown.protocols import Router

DRAIN_WITHIN = 10.0  # seconds a real load balancer may take to notice a backend is idle


def table(h, version: int, *revisions: tuple[str, float, list[int]], rules=(), sticky=None):
    """A table routing revision name -> weight over backends h.addresses[i], i in the list."""
    return RoutingTable(version, tuple(
        RevisionRoute(name, weight, tuple(Backend(f"contract-{name}-s{i}", h.addresses[i])
                                          for i in slots))
        for name, weight, slots in revisions), tuple(rules), sticky)


def test_it_is_a_router(router_factory):
    assert isinstance(router_factory().router, Router)


def test_apply_changes_things_once_then_the_same_table_changes_nothing(router_factory):
    h = router_factory()
    t = table(h, 1, ("r1", 100, [0, 1]))
    assert h.router.apply(t) is True
    assert h.router.apply(t) is False
    assert h.table() == t


def test_in_force_says_what_the_load_balancer_serves(router_factory):
    """What the engine asks before it stops an instance, and rebuilds a lost store from."""
    h = router_factory()
    t = table(h, 1, ("r1", 100, [0, 1]))
    h.router.apply(t)
    assert h.router.in_force() == h.table() == t


def test_a_newer_version_replaces_the_whole_table(router_factory):
    h = router_factory()
    h.router.apply(table(h, 1, ("r1", 100, [0, 1])))
    t2 = table(h, 2, ("r2", 100, [2]))
    assert h.router.apply(t2) is True
    assert h.table() == t2


def test_an_older_version_is_refused_and_the_table_in_force_stays(router_factory):
    h = router_factory()
    t5 = table(h, 5, ("r1", 100, [0]))
    h.router.apply(t5)
    with pytest.raises(StaleTableError):
        h.router.apply(table(h, 4, ("r2", 100, [1])))
    assert h.table() == t5


def test_a_higher_epoch_replaces_any_version_of_a_lower_one_and_says_what_is_in_force(
        router_factory):
    """How a controller takes a load balancer back from a table it did not write
    (zerodown/table_version.py): versions order only within an epoch."""
    h = router_factory()
    h.router.apply(table(h, 1_000_000, ("r1", 100, [0])))
    with pytest.raises(StaleTableError) as refused:
        h.router.apply(table(h, 2, ("r2", 100, [1])))
    assert refused.value.in_force == (0, 1_000_000)
    taken = dataclasses.replace(table(h, 1, ("r2", 100, [1])), epoch=1)
    assert h.router.apply(taken) is True
    assert h.table() == taken
    with pytest.raises(StaleTableError) as refused:  # the old epoch's writer is now refused
        h.router.apply(table(h, 1_000_001, ("r1", 100, [0])))
    assert refused.value.in_force == (1, 1)


def test_weights_rules_and_stickiness_round_trip(router_factory):
    h = router_factory()
    t = table(h, 3, ("r1", 90, [0, 1]), ("r2", 10, [2]),
              rules=[Rule("r2", header="X-Canary", equals="1"),
                     Rule("r2", cookie="beta", regex="^yes$")],
              sticky=Sticky("cookie", "zd_split", 3600))
    assert h.router.apply(t) is True
    assert h.table() == t


def test_an_empty_table_is_a_table(router_factory):
    h = router_factory()
    h.router.apply(table(h, 1, ("r1", 100, [0])))
    assert h.router.apply(RoutingTable(2)) is True
    assert h.table() == RoutingTable(2)


def test_drained_is_false_while_routed_and_true_once_a_removed_backend_is_idle(router_factory):
    h = router_factory()
    h.router.apply(table(h, 1, ("r1", 100, [0, 1])))
    assert h.router.drained("contract-r1-s0") is False
    h.router.apply(table(h, 2, ("r1", 100, [1])))
    assert h.wait(lambda: h.router.drained("contract-r1-s0"), DRAIN_WITHIN)
    assert h.router.drained("contract-r1-s1") is False


def test_a_backend_it_never_saw_is_drained(router_factory):
    """Stopping a stranded instance that was never routed must not wait for a drain."""
    assert router_factory().router.drained("contract-r9-s9") is True


def test_stats_count_requests_per_revision(router_factory):
    h = router_factory()
    h.router.apply(table(h, 1, ("r1", 100, [0, 1])))
    h.send(20)
    stats = h.router.stats()
    assert stats["revisions"]["r1"]["requests"] >= 20
    assert isinstance(stats.get("backends", {}), dict)


def test_a_drain_look_reads_the_drain_and_the_table_in_force_at_once(router_factory):
    """What a drain asks (engine/draining.look): every real router reads the table in force
    with the drain's state in one look, which the Stop right after takes as its router
    check; only the fake has no drain_look (the engine then asks in_force apart)."""
    h = router_factory()
    t1 = table(h, 1, ("r1", 100, [0, 1]))
    h.router.apply(t1)
    state, seen = look(h.router, ["contract-r1-s0", "contract-r1-s1"])
    assert [done for done, _ in state.values()] == [False, False]
    assert seen == t1 if not isinstance(h.router, FakeRouter) else seen is None
    t2 = table(h, 2, ("r1", 100, [1]))
    h.router.apply(t2)
    assert h.wait(lambda: look(h.router, ["contract-r1-s0"])[0]["contract-r1-s0"][0],
                  DRAIN_WITHIN)
    state, seen = look(h.router, ["contract-r1-s0", "contract-r1-s1", "contract-r9-s9"])
    assert {b: done for b, (done, _) in state.items()} == {
        "contract-r1-s0": True, "contract-r1-s1": False, "contract-r9-s9": True}
    assert seen in (t2, None) and (seen is None) == isinstance(h.router, FakeRouter)
    assert h.router.in_force() == t2
