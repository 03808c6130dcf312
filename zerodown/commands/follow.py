"""Following a deployment the controller runs: its events as they come, a summary line
(instances per revision, traffic split) when it changes, then its outcome.

Watching is all this process does: Ctrl-C (SIGINT) or SIGTERM (a cancelled CI
job) stops the watching, says the deployment goes on and how to steer it, and
exits 130 or 143. The deployment is the controller's, whatever happens here.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from typing import Callable, TextIO

from zerodown import colour, render, views
from zerodown.api.client import Client
from zerodown.proof import fails_requirement

POLL = 0.1  # on a terminal, how often the live line's clock is redrawn at least
WAIT = 1.0  # elsewhere, how long the controller holds a request for events at most
INDENT = " " * 10  # under the event text, past the "+1.2s" column
TERMINAL = ("succeeded", "failed", "rolled_back", "aborted")
PROOF_WAIT = 5.0  # seconds an ended deployment's proof is waited for


class StoppedWatching(Exception):
    def __init__(self, code: int):
        self.code = code


def at_switch(d: dict) -> bool:
    """A blue/green deployment past its switch, keeping blue for an instant rollback."""
    return (d["strategy"] == "blue-green" and d["phase"] == "running"
            and "blue kept" in (d.get("step_text") or ""))


def ended(d: dict) -> bool:
    return d["phase"] in TERMINAL or (d["phase"] == "paused" and bool(d["error"]))


def exit_code(d: dict) -> int:
    """0 succeeded (or held at a manual pause, or at blue/green's switch), 1 otherwise;
    1 too when require_zero_failed and the deployment's proof shows a failure."""
    if fails_requirement(d.get("proof")):
        return 1
    if d["phase"] == "succeeded" or at_switch(d) or (d["phase"] == "paused" and not d["error"]):
        return 0
    return 1


def result_line(d: dict) -> str:
    return render.result_line(views.deployment_from_dict(d, time.time()), time.time())


def live_line(d: dict, now: float) -> str | None:
    """The step in progress with its clock (`step 2/6: wait until healthy: ... (4.2s of 30s)`),
    rewritten in place on a terminal while a health wait, hook, drain or pause takes time."""
    view = views.deployment_from_dict(d, now)
    if view.terminal or view.step_started is None or not view.step_text:
        return None
    return (f"{INDENT}step {min(view.step, view.steps)}/{view.steps}: {view.step_text}"
            f"{render.step_clock(view, now)}")


class Follower:
    def __init__(self, client: Client, id: int, out: TextIO | None = None, replay: bool = True,
                 no_color: bool = False):
        self.client, self.id = client, id
        self.out = out or sys.stdout
        self.cursor, self.summary, self.error = 0, "", None
        self.paint = colour.paint if colour.wanted(self.out, no_color) else str
        self.live = colour.wanted(self.out, env={})  # a terminal, whatever NO_COLOR says
        self.shown = False  # the live line is on screen (no newline after it)
        # the controller holds an events request until one comes (?wait=): an event is
        # shown, and the end seen, as it is written; one that answers at once (older) is
        # asked every POLL seconds, once it did
        self.waits = True
        if not replay:
            while events := self._events():
                self.cursor = events[-1]["id"]

    def _events(self, wait: float = 0) -> list[dict]:
        answer = self.client.get(f"/api/v1/events?deployment={self.id}&after={self.cursor}"
                                 "&limit=1000" + (f"&wait={wait:g}" if wait else ""))
        if wait:
            self.waits = bool(answer.get("waited"))
        return answer["events"]

    def news(self, wait: float) -> None:
        """Until an event after the cursor is written (moving past it unshown), at most
        `wait` seconds, or POLL with a controller that does not hold requests."""
        events = self._events(wait)
        if events:
            self.cursor = events[-1]["id"]
        elif not self.waits:
            time.sleep(POLL)

    def poll(self, wait: float = 0) -> dict:
        """Show the events after the cursor (waiting up to `wait` seconds for one) and
        the deployment's summary; the deployment."""
        events = self._events(wait)
        d = self.client.get(f"/api/v1/deployments/{self.id}")
        for e in events:
            self.say(render.event_line(views.EventView(e["time"], e["kind"], e["text"]),
                                       d["created"]))
            self.cursor = e["id"]
        if events and d.get("summary") and d["summary"] != self.summary:
            self.summary = d["summary"]
            self.say(INDENT + self.summary)
        if d.get("controller_error") and d["controller_error"] != self.error:
            self.say(f"controller: {d['controller_error']} (it tries again every second)")
        self.error = d.get("controller_error")
        line = live_line(d, time.time()) if self.live else None
        if line is not None:
            self._clear()
            width = shutil.get_terminal_size().columns - 1  # a wrapped line \r cannot redo
            self.out.write(line[:width])
            self.out.flush()
            self.shown = True
        return d

    def say(self, text: str) -> None:
        self._clear()
        self.out.write(self.paint(text) + "\n")
        self.out.flush()

    def _clear(self) -> None:
        if self.shown:
            self.out.write("\r\x1b[K")
            self.shown = False

    def follow(self, done: Callable[[dict], bool]) -> dict:
        """Poll until done(deployment); StoppedWatching on SIGINT/SIGTERM (after saying so)."""
        previous = signal.signal(signal.SIGTERM, _raise_stopped)
        try:
            wait, d = POLL if self.live else WAIT, self.poll()  # the first look at once
            while not done(d):
                if not self.waits:
                    time.sleep(POLL)
                d = self.poll(wait)
            self._clear()
            return self.settled(d) if d["phase"] in TERMINAL else d
        except (KeyboardInterrupt, StoppedWatching) as e:
            code = e.code if isinstance(e, StoppedWatching) else 130
            self.say(f"\nstopped watching: deployment {self.id} goes on in the controller "
                     "(`zerodown status --watch` shows it, `zerodown abort` undoes it)")
            raise StoppedWatching(code) from None
        finally:
            signal.signal(signal.SIGTERM, previous)

    def settled(self, d: dict) -> dict:
        """The ended deployment once the controller's run of it returned: its last old
        instances exited and written stopped (awaited after the phase is written), so a
        command that returned leaves nothing `stopping` and no old process alive. A
        controller of an older zerodown sends no "settled" (and ignores ?wait=): the
        deployment as it is, its last exits confirmed milliseconds later."""
        while d.get("settled") is False:  # held by the controller until its run returns
            d = self.client.get(f"/api/v1/deployments/{d['id']}?wait={WAIT:g}")
        return d


def _raise_stopped(signum, frame) -> None:
    raise StoppedWatching(128 + signum)


def watch(client: Client, id: int, replay: bool = True, no_color: bool = False) -> int:
    """Follow deployment `id` to its end (or blue/green's switch); print its outcome; the
    exit code."""
    try:
        follower = Follower(client, id, replay=replay, no_color=no_color)
        d = follower.follow(lambda d: ended(d) or at_switch(d))
    except StoppedWatching as e:
        return e.code
    if d["phase"] in TERMINAL:
        d = _with_proof(follower, d)
    follower.say(result_line(d) if not at_switch(d) else switch_line(d))
    if d.get("proof"):
        follower.say(INDENT + render.proof_line(d["proof"]))
    return exit_code(d)


def _with_proof(follower: Follower, d: dict, wait: float = PROOF_WAIT) -> dict:
    """The ended deployment once its proof is written (its event follows the phase's
    within milliseconds), or as it is after `wait` seconds (no proof: the load balancer
    did not answer)."""
    deadline = time.monotonic() + wait
    while d.get("proof") is None and (left := deadline - time.monotonic()) > 0:
        follower.news(min(left, WAIT))
        d = follower.client.get(f"/api/v1/deployments/{d['id']}")
    return d


def switch_line(d: dict) -> str:
    return (f"deployment {d['id']}: {views.label_from_dict(d['to'])} serves all traffic; "
            f"the controller keeps {views.label_from_dict(d['from'])} up for an instant "
            f"rollback ({d['step_text']}), then stops it (`zerodown rollback` goes back, "
            "`zerodown status` shows it)")
