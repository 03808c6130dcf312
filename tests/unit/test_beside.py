"""engine/beside.py: a call in a thread beside the caller, its outcome taken afterwards."""

from __future__ import annotations

import threading

import pytest

from zerodown.engine.beside import Beside


def test_the_call_runs_while_the_caller_works_and_its_value_is_the_result():
    started, go = threading.Event(), threading.Event()

    def call(a, b):
        started.set()
        assert go.wait(10), "the caller never let the call finish"
        return a + b

    with Beside(call, 2, 3, name="sum") as summing:
        assert started.wait(10), "the call did not start before the caller asked for it"
        assert summing.result(0.01) is None, "still running at the timeout: no value yet"
        go.set()
        assert summing.result() == 5


@pytest.mark.parametrize("raised", [OSError(5, "I/O error"), SystemExit(3)])
def test_what_the_call_raised_is_raised_by_result_in_the_callers_thread(raised):
    def call():
        raise raised

    with Beside(call, name="failing") as failing:
        with pytest.raises(type(raised)) as caught:
            failing.result()
    assert caught.value is raised


def test_leaving_the_with_joins_the_call_and_keeps_the_callers_own_error():
    finished = threading.Event()

    def call():
        assert not finished.wait(0.05)
        finished.set()
        raise OSError("the call's error, not asked for")

    with pytest.raises(ValueError, match="the caller's"):
        with Beside(call, name="slow"):
            raise ValueError("the caller's error")
    assert finished.is_set(), "the with returned before the call ended"


def test_with_a_pool_the_call_runs_on_its_kept_worker_and_no_thread_is_started(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(1, "kept")
    pool.submit(lambda: None).result()   # its worker started once
    # Threads this test's thread starts, counted as they start: a count of the threads
    # alive also moved when a thread an earlier test left behind ended meanwhile.
    started, start = [], threading.Thread.start
    caller = threading.current_thread()

    def counted(thread):
        if threading.current_thread() is caller:
            started.append(thread.name)
        start(thread)
    monkeypatch.setattr(threading.Thread, "start", counted)
    seen = []

    def failing_call():
        seen.append(threading.current_thread().name)
        raise OSError("from the worker")
    with Beside(lambda: seen.append(threading.current_thread().name) or 7, name="x",
                pool=pool) as call:
        assert call.result() == 7
    with pytest.raises(OSError, match="from the worker"):
        with Beside(failing_call, name="y", pool=pool) as failing:
            failing.result()
    assert seen == ["kept_0", "kept_0"] and started == []
    pool.shutdown()
