"""Live progress of a deployment, and running one here: what `deploy`, `resume`, `_run` share.

The Follower reads the deployment's event log from the store (its own
connection), so it shows what any process did: the steps this process runs,
and a `zerodown pause` typed in another terminal. On a terminal it keeps a
footer line (current step, instances per revision, traffic split) redrawn in
place; otherwise every line is plain and printed once.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import Callable, TextIO

from zerodown import render
from zerodown.controller import Controller, deployment_view, event_view, labels, progress
from zerodown.engine.lifecycle import Phase, exit_code
from zerodown.engine.runner import DeploymentBusy, Engine
from zerodown.engine.store import Deployment

POLL = 0.1  # how often the follower reads new events
INDENT = " " * 10  # under the event text, past the "+1.2s" column


class Follower:
    def __init__(self, ctl: Controller, service: str, id: int, out: TextIO | None = None,
                 replay: bool = True):
        """`replay`: show the deployment's events from its start, else only new ones."""
        self.ctl, self.service, self.id = ctl, service, id
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.store = ctl.open_store()
        self.last, self.summary, self.footer = 0, "", ""
        if not replay:
            seen = self.store.events(deployment=id, limit=1_000_000)
            self.last = seen[-1].id if seen else 0
        self._stop = threading.Event()
        self._output = threading.Lock()
        self._thread: threading.Thread | None = None

    def poll(self) -> Deployment:
        """Print what happened since the last poll; the deployment as it is now."""
        with self._output:
            return self._poll()

    def _poll(self) -> Deployment:
        d = self.store.deployment(self.id)
        events = self.store.events(deployment=self.id, after=self.last)
        for e in events:
            self._line(render.event_line(event_view(e), d.created))
            self.last = e.id
        if events:
            summary = progress(self.store, self.service)
            if self.tty:
                self._footer(f"{INDENT}[{_where(d)}] {summary}")
            elif summary != self.summary:
                self._line(INDENT + summary)
            self.summary = summary
        return d

    def follow(self, done: Callable[[Deployment], bool]) -> Deployment:
        """Poll in this thread until `done(deployment)`."""
        while not done(d := self.poll()):
            time.sleep(POLL)
        return d

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> Deployment:
        """Stop the background poller, print what it had not yet, and end the footer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        d = self.poll()
        if self.tty and self.footer:
            self._footer("")
            self._line(INDENT + self.summary)
        return d

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            self.poll()

    def say(self, text: str) -> None:
        """A line of the caller's, printed between the poller's (never inside one)."""
        with self._output:
            self._line(text)

    def _line(self, text: str) -> None:
        if self.tty and self.footer:
            self.out.write("\r\x1b[K")
        self.out.write(text + "\n")
        if self.tty and self.footer:
            self.out.write(self.footer)
        self.out.flush()

    def _footer(self, text: str) -> None:
        width = shutil.get_terminal_size().columns - 1  # a wrapped footer could not be redrawn
        self.footer = text if len(text) <= width else text[:max(0, width - 1)] + "…"
        self.out.write("\r\x1b[K" + self.footer)
        self.out.flush()


def _where(d: Deployment) -> str:
    return f"step {min(d.cursor + 1, len(d.steps))}/{len(d.steps)} {d.phase}"


def drive(ctl: Controller, engine: Engine, id: int, replay: bool = True) -> int:
    """Run deployment `id` here, showing progress; if another process runs it, follow it.
    The exit code: 0 succeeded (or held at a manual pause), 1 otherwise."""
    follower = Follower(ctl, engine.service, id, replay=replay)
    follower.start()
    try:
        _run(ctl, engine, id, follower)
    except KeyboardInterrupt:
        d = follower.stop()
        print(f"\ninterrupted: deployment {id} stays {d.phase} at step "
              f"{min(d.cursor + 1, len(d.steps))}/{len(d.steps)}; `zerodown resume` continues "
              f"it, `zerodown abort` undoes it")
        return 130
    finally:
        follower.stop()
    return finish(ctl, engine, id)


def _run(ctl: Controller, engine: Engine, id: int, follower: Follower) -> None:
    """engine.run(id); while another process holds the service's lock, wait, and take over
    if it lets go with `id` unfinished (it was ending the deployment before, or it died)."""
    said = False
    while True:
        try:
            engine.run(id)
            return
        except DeploymentBusy as e:
            if not said:
                follower.say(f"{e}; following it")
                said = True
        while ctl.controller_pid(engine.service) is not None:
            if engine.store.deployment(id).phase.terminal:
                return
            time.sleep(POLL)


def finish(ctl: Controller, engine: Engine, id: int) -> int:
    d = engine.store.deployment(id)
    view = deployment_view(d, labels(engine.store, engine.service))
    print(render.result_line(view, time.time()))
    return exit_code(d.phase, d.error)


def follow_until_ended(ctl: Controller, service: str, id: int) -> Deployment:
    """Show another process's deployment until it ends, holds at a pause with an error,
    or its controller is gone (the caller may then take it over)."""
    follower = Follower(ctl, service, id, replay=False)
    return follower.follow(lambda d: d.phase.terminal or (d.phase is Phase.PAUSED and bool(d.error))
                           or ctl.controller_pid(service) is None)
