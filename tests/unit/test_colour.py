"""Colour only for a terminal, never with NO_COLOR or --no-color; the live progress line of a
followed deployment, on a terminal only."""

from __future__ import annotations

import io

import pytest

from zerodown import colour
from zerodown.commands.follow import Follower, live_line


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream, flag, env, on", [
    (Tty(), False, {}, True),
    (Tty(), True, {}, False),
    (Tty(), False, {"NO_COLOR": "1"}, False),
    (Tty(), False, {"NO_COLOR": ""}, True),  # no-color.org: present and not empty
    (Tty(), False, {"TERM": "dumb"}, False),
    (io.StringIO(), False, {}, False),  # a pipe or a file
])
def test_colour_is_wanted_on_a_terminal_only(stream, flag, env, on):
    assert colour.wanted(stream, flag, env) is on


@pytest.mark.parametrize("text, painted", [
    ("succeeded in 4s", "\x1b[32msucceeded\x1b[0m in 4s"),
    ("r1 unhealthy: refused", "r1 \x1b[31munhealthy\x1b[0m: refused"),
    ("rolled back in 2s", "\x1b[31mrolled back\x1b[0m in 2s"),
    ("  error: boom", "  \x1b[31merror:\x1b[0m boom"),
    ("paused, step 3/5", "\x1b[33mpaused\x1b[0m, step 3/5"),
    ("shop-r1-s0 routed", "shop-r1-s0 \x1b[32mrouted\x1b[0m"),
    ("no-healthy-word here failed-ish", "no-healthy-word here failed-ish"),
])
def test_paint_colours_outcomes_and_states_by_word(text, painted):
    assert colour.paint(text) == painted
    assert colour.plain(painted) == text


DEPLOYMENT = {"id": 3, "kind": "deploy", "phase": "running", "from": None,
              "to": {"revision": 1, "version": "v1"}, "strategy": "rolling", "plan": "deploy",
              "step": 2, "steps": 3, "step_text": "wait until healthy: shop-r1-s0",
              "error": None, "controller_pid": 9, "created": 100.0, "duration_s": 5.0,
              "step_started": 101.0, "step_limit_s": 30.0}


@pytest.mark.parametrize("changes, line", [
    ({}, "          step 2/3: wait until healthy: shop-r1-s0 (4.0s of 30s)"),
    ({"step_limit_s": None}, "          step 2/3: wait until healthy: shop-r1-s0 (4.0s)"),
    ({"step_started": None}, None),
    ({"phase": "succeeded"}, None),
])
def test_live_line_shows_the_step_with_its_clock(changes, line):
    assert live_line({**DEPLOYMENT, **changes}, now=105.0) == line


class Api:
    """The two answers a Follower asks for, from a script of deployments."""

    def __init__(self, states):
        self.states, self.events = list(states), [
            {"id": 1, "time": 100.5, "kind": "step", "text": "step 1/3: start shop-r1-s0"}]

    def get(self, path):
        if path.startswith("/api/v1/events"):
            events, self.events = self.events, []
            return {"events": events}
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


@pytest.mark.parametrize("out, live", [(Tty(), True), (io.StringIO(), False)])
def test_a_follower_rewrites_its_live_line_on_a_terminal_only(out, live):
    done = {**DEPLOYMENT, "phase": "succeeded", "step": 4, "step_text": None}
    Follower(Api([DEPLOYMENT, DEPLOYMENT, done]), 3, out=out, no_color=True).follow(
        lambda d: d["phase"] == "succeeded")
    text = out.getvalue()
    assert "step 1/3: start shop-r1-s0\n" in text
    assert ("(4.0s of 30s)" in text or "of 30s)" in text) is live
    assert text.endswith("\r\x1b[K") is live  # the live line is cleared at the end
    assert "\x1b[3" not in text  # no_color
