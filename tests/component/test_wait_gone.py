"""Waiting for a process's exit (zerodown/hosts/local.py wait_gone): on a pidfd, woken by
the exit itself rather than a look every POLL, for processes that are not our children
too; the pid + start time identity kept; polling where pidfds are missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from zerodown.hosts import local


def orphan(seconds: float, ignore_term: bool = False) -> tuple[int, int]:
    """A process that is not our child (its parent exits at once): pid, start time."""
    body = (("import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
             if ignore_term else "") + f"import time; time.sleep({seconds})")
    launcher = subprocess.run(
        [sys.executable, "-c", "import subprocess, sys; print(subprocess.Popen("
         f"[sys.executable, '-c', {body!r}], start_new_session=True, "
         "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"],
        capture_output=True, text=True, check=True)
    pid = int(launcher.stdout)
    started = local.start_time(pid)
    assert started is not None, "Popen returns once the orphan runs"
    assert local.parent_of(pid) != os.getpid()
    return pid, started


def no_sleeping(monkeypatch) -> None:
    def sleep(seconds):
        raise AssertionError(f"slept {seconds}s: polled instead of waiting on the pidfd")
    monkeypatch.setattr(local.time, "sleep", sleep)


def test_the_exit_of_a_process_not_ours_is_awaited_without_polling(monkeypatch):
    pid, started = orphan(0.3)
    no_sleeping(monkeypatch)
    begun = time.monotonic()
    assert local.wait_gone(pid, started, 10)
    assert time.monotonic() - begun < 9
    assert local.start_time(pid) is None


def test_a_child_spawned_here_is_reaped_and_awaited_without_polling(tmp_path, monkeypatch):
    proc = local.spawn([sys.executable, "-c", "import time; time.sleep(0.3)"], cwd=None,
                       env=None, log_path=tmp_path / "log", banner="test")
    started = local.start_time(proc.pid)
    no_sleeping(monkeypatch)
    assert local.wait_gone(proc.pid, started, 10)
    assert local.exit_code(proc.pid) == 0, "reaped: its exit code known"
    local.forget(proc.pid)


def test_a_timeout_still_says_it_runs_and_sigkill_follows_the_grace(monkeypatch):
    pid, started = orphan(30, ignore_term=True)
    try:
        begun = time.monotonic()
        assert not local.wait_gone(pid, started, 0.2)
        assert time.monotonic() - begun >= 0.2
        local.terminate(pid, started, 0.3, "stubborn")  # SIGTERM ignored: killed after grace
        assert local.start_time(pid) is None
    finally:
        if local.running(pid, started):
            os.kill(pid, signal.SIGKILL)


def test_another_process_on_the_same_pid_is_not_waited_for(monkeypatch):
    pid, started = orphan(30)
    try:
        no_sleeping(monkeypatch)
        begun = time.monotonic()
        assert local.wait_gone(pid, started + 1, 10), "not ours: gone as far as we know"
        assert time.monotonic() - begun < 1
    finally:
        os.kill(pid, signal.SIGKILL)


def test_without_pidfds_it_looks_every_poll(monkeypatch):
    pid, started = orphan(0.3)
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    slept = []
    sleep = time.sleep
    monkeypatch.setattr(local.time, "sleep", lambda s: slept.append(s) or sleep(s))
    assert local.wait_gone(pid, started, 10)
    assert slept and max(slept) <= local.POLL


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux >= 5.3 with Python >= 3.9")
def test_a_pidfd_ready_while_the_process_runs_falls_back_to_polling(monkeypatch):
    pid, started = orphan(0.3)
    monkeypatch.setattr(local, "readable", lambda fd, timeout, poller=None: True)  # a wrong wake-up
    slept = []
    sleep = time.sleep
    monkeypatch.setattr(local.time, "sleep", lambda s: slept.append(s) or sleep(s))
    assert local.wait_gone(pid, started, 10)
    assert slept, "no busy loop on a ready pidfd"
