"""Waiting for an answer the controller may take minutes to give, told apart from a
controller that answers no more.

A deployment asked of a fleet is answered once every host is pre-flighted and has the
release (up to connect_timeout + 10 s + 3 x command_timeout: 200 s with the default
options), and its refusal names the host that failed, so the command waits that long
and 30 s more.
But a controller stopped or stuck meanwhile was waited for as long, silently, before
being called busy. Now, each LOOK seconds without the answer, the controller is asked
for its status on a connection of its own (answered from its memory, in milliseconds):

    c.post("/api/v1/deployments", body, Patience(c, "deploy v2", 230.0))

answered, it is at work on the request: the wait goes on to the bound, saying so now
and then; unanswered within PROBE seconds, the command says at once that it stopped
answering, naming it (pid, socket or URL) and what to do.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

from zerodown.api.busy import busy, holder_beside, unresponsive, who
from zerodown.api.client import LOOK, PROBE, Client, Unanswered, Unreachable

FIRST_SAID = 5.0   # a wait shorter than this says nothing
SAID_EVERY = 30.0  # then a line this often, so a long wait is never a silent one


def print_err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def patient(client: Client, method: str, path: str) -> Patience:
    """Client.patient for a command's every request: one the controller stopped answering
    is said within seconds, not at the client's timeout (30 s). Its wait says nothing, and
    a request the controller holds (`?wait=S`: a follow's next event) is not looked past
    before S seconds."""
    where, _, query = path.partition("?")
    held = [float(v) for k, _, v in (p.partition("=") for p in query.split("&"))
            if k == "wait" and v.replace(".", "", 1).isdigit()]
    return Patience(client, f"{method} {where}", client.timeout, action=method != "GET",
                    say=None, held=max(held, default=0.0))


class Patience:
    """A request's patience (Client.post's `patience`, or any request's by Client.patient):
    `asked` names it ("deploy v2"), `bound` is how long the controller may take on it
    (commands/connect.py: release_wait), `doing` what takes it that long, if anything is
    known to. `action`: the request may change something. `say`: where a long wait is
    said (None: nowhere). `held`: seconds the controller holds the request by design,
    before which it is not asked whether it is there."""

    def __init__(self, client: Client, asked: str, bound: float, doing: str | None = None,
                 action: bool = True, say: Callable[[str], None] | None = print_err,
                 held: float = 0.0, clock=time.monotonic):
        self.client, self.asked, self.bound, self.clock = client, asked, bound, clock
        self.doing, self.action, self.say = f"; {doing}" if doing else "", action, say
        self.held = held
        self.began = clock()
        self.next_said = self.began + FIRST_SAID
        self.probe = Client(socket_path=client.socket_path, url=client.url, token=client.token,
                            timeout=PROBE)

    def __call__(self) -> None:
        now = self.clock()
        waited = now - self.began
        if waited >= self.bound:
            raise Unanswered(self._busy())
        if waited < self.held + LOOK:  # held by design: its answer may come at the end
            return
        try:
            self.probe.alive()
        except Unanswered:
            raise Unanswered(self._unresponsive(waited)) from None
        except Unreachable:
            return  # it has gone: the request's own connection says so as it closes
        finally:
            self.probe.close()
        if self.say is not None and now >= self.next_said:
            self.next_said = now + SAID_EVERY
            self.say(f"{self.asked}: {self._who()} is at it ({waited:.0f}s{self.doing}); it "
                     f"answers, so it is waited for, up to {self.bound:g}s")

    def _pid(self) -> int | None:
        return holder_beside(self.client.socket_path) if self.client.socket_path else None

    def _who(self) -> str:
        return who(self._pid())

    def _busy(self) -> str:
        return busy(self.client.where, self.bound, self._pid())

    def _unresponsive(self, waited: float) -> str:
        if not self.action:  # a look: no answer is all there is to say
            return busy(self.client.where, round(waited + PROBE), self._pid())
        return unresponsive(self.client.where, PROBE, self._pid(), self.asked, waited)
