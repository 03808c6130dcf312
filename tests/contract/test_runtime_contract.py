"""What the engine relies on from every Runtime (zerodown.protocols.Runtime).

Run against each driver registered in conftest.RUNTIMES (the fake today;
`local` and `ssh` when they exist). The engine's crash safety rests on these:
start is idempotent per (revision, slot), stop is idempotent, and adopt() on
a restarted controller finds exactly what still runs.
"""

from __future__ import annotations

import re

from zerodown.model import Slot
from zerodown.protocols import Runtime

ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")
START_WITHIN = 30.0  # seconds a real driver's example app may take to answer its health check


def test_it_is_a_runtime(runtime_factory):
    assert isinstance(runtime_factory().runtime, Runtime)


def test_start_returns_an_instance_with_an_address_that_is_alive(runtime_factory):
    h = runtime_factory()
    rev = h.revision(1)
    inst = h.runtime.start(rev, Slot(0))
    assert (inst.service, inst.revision, inst.slot) == (rev.service, 1, Slot(0))
    assert ADDRESS.match(inst.address), inst.address
    assert inst.id == f"{rev.service}-r1-s0"
    assert h.runtime.alive(inst)


def test_a_started_instance_becomes_healthy(runtime_factory):
    h = runtime_factory()
    rev = h.revision(1)
    inst = h.runtime.start(rev, Slot(0))
    ok, seen = h.runtime.healthy(inst, rev)
    assert isinstance(ok, bool) and isinstance(seen, str) and seen
    assert h.wait(lambda: h.runtime.healthy(inst, rev)[0], START_WITHIN)


def test_starting_the_same_revision_and_slot_twice_returns_the_running_instance(runtime_factory):
    h = runtime_factory()
    rev = h.revision(1)
    first = h.runtime.start(rev, Slot(0))
    again = h.runtime.start(rev, Slot(0))
    assert (again.address, again.pid) == (first.address, first.pid)
    assert [i.id for i in h.runtime.adopt(rev.service)] == [first.id]


def test_each_slot_gets_its_own_address(runtime_factory):
    h = runtime_factory()
    rev = h.revision(1)
    addresses = {h.runtime.start(rev, Slot(i)).address for i in range(3)}
    assert len(addresses) == 3


def test_stop_makes_it_not_alive_and_stopping_again_is_harmless(runtime_factory):
    h = runtime_factory()
    rev = h.revision(1)
    inst = h.runtime.start(rev, Slot(0))
    assert h.wait(lambda: h.runtime.healthy(inst, rev)[0], START_WITHIN)
    h.runtime.stop(inst, grace=5.0)
    assert not h.runtime.alive(inst)
    assert h.runtime.healthy(inst, rev)[0] is False
    h.runtime.stop(inst, grace=5.0)
    assert h.runtime.adopt(rev.service) == []


def test_a_slot_can_be_used_again_after_a_stop(runtime_factory):
    """Rolling back in place starts the old revision again in the same (revision, slot)."""
    h = runtime_factory()
    rev = h.revision(1)
    old = h.runtime.start(rev, Slot(0))
    h.runtime.stop(old, grace=5.0)
    new = h.runtime.start(rev, Slot(0))
    assert h.runtime.alive(new)
    assert h.wait(lambda: h.runtime.healthy(new, rev)[0], START_WITHIN)


def test_a_restarted_controller_adopts_what_runs_and_can_stop_it(runtime_factory):
    h = runtime_factory()
    one, two = h.revision(1), h.revision(2)
    kept = h.runtime.start(one, Slot(0))
    other = h.runtime.start(two, Slot(1))
    gone = h.runtime.start(two, Slot(2))
    h.runtime.stop(gone, grace=5.0)
    restarted = h.restart()
    found = {i.id: i for i in restarted.adopt(one.service)}
    assert set(found) == {kept.id, other.id}
    assert (found[kept.id].address, found[kept.id].revision, found[kept.id].slot) == (
        kept.address, 1, Slot(0))
    assert restarted.alive(found[other.id])
    restarted.stop(found[other.id], grace=5.0)
    assert not h.runtime.alive(other)
    assert [i.id for i in h.runtime.adopt(one.service)] == [kept.id]


def test_adopt_only_finds_the_service_asked_for(runtime_factory):
    h = runtime_factory()
    h.runtime.start(h.revision(1), Slot(0))
    assert h.runtime.adopt("some-other-service") == []


def test_logs_say_where_the_output_is(runtime_factory):
    h = runtime_factory()
    inst = h.runtime.start(h.revision(1), Slot(0))
    assert isinstance(h.runtime.logs(inst), str) and h.runtime.logs(inst)
