"""A deployment the controller cannot go on with (its store's disk is full) says why to
whoever follows it, instead of waiting in silence (issue 11.8, with the controller daemon)."""

from __future__ import annotations

import io
import threading

from zerodown.commands.follow import Follower
from zerodown.daemon.runs import Runner
from zerodown.engine.store import StoreUnavailable

FULL = ("cannot write the state store /s/zerodown.db: its disk is full (SQLite: database or "
        "disk is full)")


class Controller:
    """Stands in for zerodown.controller.Controller: its engine cannot write the store."""

    def working_config(self):
        return None

    def ensure_router(self, cfg) -> None:
        pass

    def engine(self, cfg, finishing=None):
        class Engine:
            def run(self, id, hold):
                raise StoreUnavailable(FULL)
        return Engine()

    def close(self) -> None:
        pass


class Store:
    def event(self, *args) -> None:
        raise StoreUnavailable(FULL)  # the disk is full for the error's event too


def test_the_runner_keeps_the_error_it_cannot_get_past():
    runner = Runner(Controller, "shop", log=lambda text: None)
    stop = threading.Event()
    stop.set()  # no waiting for the retry
    runner._drive(7, Store(), stop)
    assert runner.error == (7, FULL)


def test_a_follower_prints_the_controllers_error_once():
    class Client:
        def get(self, path):
            if path.startswith("/api/v1/events"):
                return {"events": []}
            return {"id": 7, "created": 0.0, "summary": "", "controller_error": FULL}
    out = io.StringIO()
    follower = Follower(Client(), 7, out=out)
    follower.poll()
    follower.poll()
    assert out.getvalue() == f"controller: {FULL} (it tries again every second)\n"
