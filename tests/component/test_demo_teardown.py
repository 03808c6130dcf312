"""`zerodown demo` stops the proxy it started whatever fails after it started (demo.ship_all):
the proxy was started, and the engine built, before the teardown's `try`, so an engine
that could not be built (its store unreadable, a judge's config refused) left the real
proxy process running after the demo ended with the error."""

from __future__ import annotations

import pytest

from zerodown import demo
from zerodown.controller import Controller
from zerodown.errors import ZerodownError
from zerodown.hosts.local import running, start_time


def test_an_engine_that_cannot_be_built_after_the_proxy_started_stops_the_proxy(
        tmp_path, monkeypatch):
    ctl = Controller(str(demo.write_config(tmp_path)))
    started: list[tuple[int, int | None]] = []

    def cannot(*args, **kwargs):
        pid = ctl.router().pid
        assert pid is not None, "the proxy was not running when the engine was built"
        started.append((pid, start_time(pid)))
        raise ZerodownError("the state store cannot be read: a test's refusal")

    monkeypatch.setattr(ctl, "engine", cannot)
    try:
        with pytest.raises(ZerodownError, match="a test's refusal"):
            demo.ship_all(ctl, demo.STRATEGIES[:1], demo.INSTANCES)
        [(pid, began)] = started
        assert began is not None and not running(pid, began), \
            f"the demo's proxy (pid {pid}) still runs after the demo ended"
    finally:
        Controller(ctl.file).router().stop(timeout=5)  # (a failing test's proxy)
