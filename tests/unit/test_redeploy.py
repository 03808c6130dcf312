"""`zerodown deploy V` while V serves restarts every instance as a new revision: the note
that says so before anything acts, and when it must not be said (pure: restart_note)."""

from __future__ import annotations

import pytest

from zerodown.model import InstanceRef, Slot
from zerodown.plan import ServiceState
from zerodown.redeploy import restart_note

SOURCE = {"service": "shop", "app": {"env": {"A": "1"}}, "strategy": {"kind": "rolling"}}
SERVING = ServiceState("shop", 3, routed=(InstanceRef(3, Slot(0)), InstanceRef(3, Slot(1))))


def note(state=SERVING, version="v1", source=SOURCE):
    return restart_note(state, "v1", {"source": SOURCE}, 4, version, {"source": source})


def test_the_serving_version_again_is_said_to_restart_every_instance():
    assert note() == ("v1 already serves shop (r3): this restarts every instance as r4 "
                      "(nothing else changed: a restart)")


def test_a_strategy_of_its_own_is_still_a_restart_and_changed_settings_are_named():
    other = {**SOURCE, "strategy": {"kind": "canary"}}
    assert note(source=other).endswith("(nothing else changed: a restart)")
    changed = {**SOURCE, "app": {"env": {"A": "2", "B": "1", "C": "1", "D": "1"}},
               "health": {"path": "/up"}}
    assert note(source=changed).endswith(
        "as r4 (with the file's changed app.env.A, app.env.B, app.env.C and 2 more)")


@pytest.mark.parametrize("state, version", [
    (SERVING, "v2"),  # another version: an ordinary deployment
    (ServiceState("shop", 3), "v1"),  # nothing routed (after `zerodown down`): a start
    (ServiceState("shop", 3, routed=(InstanceRef(2, Slot(0)),)), "v1"),  # r3 not serving
])
def test_nothing_is_said_of_a_new_version_or_of_a_version_that_does_not_serve(state, version):
    assert note(state, version) is None
