"""What a command says of a controller that does not answer (api/busy.py), and how long
it waits on one that takes long (api/patience.py): pure cases, a fake clock, a stub probe."""

from __future__ import annotations

import os

import pytest

from zerodown.api import patience
from zerodown.api.busy import busy, state_said, unresponsive
from zerodown.api.client import Client, Unanswered


@pytest.mark.parametrize("stat, said", [
    ("123 (python3) T 1 123 ...", "its process is stopped (SIGSTOP, a debugger or a shell's "
                                  "Ctrl-Z; `kill -CONT 123` lets it go on)"),
    ("123 (a (b) c) T 1 ...", "its process is stopped (SIGSTOP"),  # ")" in the name
    ("123 (python3) t 1", "its process is stopped by a debugger"),
    ("123 (python3) D 1", "its process waits in the kernel"),
    ("123 (python3) Z 1", "its process has exited"),
    ("123 (python3) S 1", None),  # asleep on something of its own: at work, maybe busy
    ("123 (python3) R 1", None),
    ("", None),
])
def test_the_kernels_state_of_a_process_that_does_not_answer(stat, said):
    got = state_said(stat, 123)
    assert got == said if said is None else got.startswith(said), got


def test_a_busy_message_without_a_pid_names_no_process_and_no_local_command():
    said = busy("http://10.0.0.5:7070", 5, None)
    assert said.startswith("the controller is busy: no answer on http://10.0.0.5:7070 "
                           "within 5s; it goes on by itself"), said
    assert "--stop" not in said and "kill" not in said
    assert "`zerodown logs controller` on the controller's machine says" in said
    assert "`zerodown logs controller` on the controller's machine says" in unresponsive(
        "http://10.0.0.5:7070", 5, None, "deploy v2", 12)
    assert "on the controller's machine" not in busy("unix:/srv/.zerodown/controller.sock",
                                                     5, os.getpid())


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Probe:
    def __init__(self, answers: bool):
        self.answers, self.asked = answers, 0

    def alive(self) -> None:
        self.asked += 1
        if not self.answers:
            raise Unanswered("no answer within 5s")

    def close(self) -> None:
        pass


def patient(answers: bool, clock: Clock, said: list[str]) -> patience.Patience:
    p = patience.Patience(Client(url="http://10.0.0.5:7070", token="t"), "deploy v2", 60.0,
                          "each host is pre-flighted first", say=said.append, clock=clock)
    p.probe = Probe(answers)
    return p


def test_a_controller_that_answers_is_waited_for_to_the_bound_saying_so_now_and_then():
    clock, said = Clock(), []
    p = patient(True, clock, said)
    for t in range(0, 60):
        clock.now = 100.0 + t
        p()
    assert said == [
        "deploy v2: the controller is at it (5s; each host is pre-flighted first); it answers, "
        "so it is waited for, up to 60s",
        "deploy v2: the controller is at it (35s; each host is pre-flighted first); it answers, "
        "so it is waited for, up to 60s"], said
    clock.now = 160.0
    with pytest.raises(Unanswered, match=r"^the controller is busy: no answer on "
                                         r"http://10.0.0.5:7070 within 60s"):
        p()


def test_a_controller_that_stops_answering_its_status_is_said_at_the_next_look():
    clock, said = Clock(), []
    p = patient(False, clock, said)
    clock.now = 103.0
    with pytest.raises(Unanswered) as e:
        p()
    assert str(e.value).startswith(
        "the controller stopped answering while on deploy v2 (3s in): its status went "
        "unanswered on http://10.0.0.5:7070 within 5s; `zerodown logs controller` on the "
        "controller's machine says what it did last. Whether it took deploy v2 shows in `zerodown status` once it answers"), e
    assert said == []


@pytest.mark.parametrize("path, held", [
    ("/api/v1/events?deployment=3&after=12&wait=1", 1.0),
    ("/api/v1/deployments/3?wait=2.5", 2.5),
    ("/api/v1/status?format=text&fresh=1", 0.0),
    ("/api/v1/deployments/3?wait=soon", 0.0),
])
def test_a_read_the_controller_holds_is_not_looked_past_before_its_wait(path, held):
    p = patience.patient(Client(url="http://10.0.0.5:7070", token="t"), "GET", path)
    assert (p.held, p.action, p.say) == (held, False, None)
    assert p.asked == "GET " + path.partition("?")[0]
    p.probe = Probe(answers=False)
    p.began, p.clock = 0.0, Clock()
    p.clock.now = held + 0.5  # within its hold and a slice: not asked
    p()
    assert p.probe.asked == 0
    p.clock.now = held + 2.0
    with pytest.raises(Unanswered, match=r"^the controller is busy: no answer on "
                                         rf"http://10.0.0.5:7070 within {round(held + 7):g}s"):
        p()
