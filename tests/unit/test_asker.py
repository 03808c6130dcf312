"""Who asked for an action, said in one plain phrase (an action's event, the controller's
log): no parentheses within parentheses ('by root (unix socket (pid 4242))' was said)."""

from __future__ import annotations

import pytest

from zerodown.api.server import asker
from zerodown.daemon.actions import Who


@pytest.mark.parametrize("who, origin, said", [
    ("root", "unix socket (pid 4242)", "root over the unix socket, pid 4242"),
    ("ci", "tcp 10.0.0.5:51234", "ci over TCP from 10.0.0.5:51234"),
    ("", "tcp 127.0.0.1:1", "an unnamed token over TCP from 127.0.0.1:1"),
    ("controller", "deadline", "controller (deadline)"),
])
def test_asker_says_who_and_from_where(who, origin, said):
    assert asker(who, origin) == said


def test_an_action_event_says_who_asked_and_why_without_nested_parentheses():
    assert Who("root", "unix socket (pid 7)", "hotfix").text() == \
        "by root over the unix socket, pid 7: hotfix"
    assert Who("root", "unix socket (pid 7)", None).text() == "by root over the unix socket, pid 7"
