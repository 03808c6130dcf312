"""The proxy restarts and upgrades without losing its table or a request."""

from __future__ import annotations

import signal

import pytest

from zerodown.loadgen import LoadInBackground, run_load_sync
from zerodown.model import Rule
from tests.support.proxy import ProxyProcess, table_of


@pytest.fixture
def unstarted(tmp_path):
    """A ProxyProcess not yet started; every process it ran is reaped after the test."""
    p = ProxyProcess(tmp_path)
    yield p
    p.cleanup()


def test_a_restarted_proxy_serves_the_table_it_had(unstarted, app_factory):
    first = unstarted  # the same proxy (port, state file) started twice
    a, b = app_factory("v1"), app_factory("v2")
    first.start()
    table = table_of(7, ("v1", 100, [a]), ("v2", 0, [b]), rules=[Rule("v2", header="X-Canary", equals="1")])
    first.apply(table)
    first.proc.stop()  # SIGTERM: a clean stop, nothing handed over
    assert first.proc.returncode == 0
    first.start()  # a new process, same state file
    assert first.admin.table() == table
    assert run_load_sync(first.url + "/", requests=50).by_header["X-Version"] == {"v1": 50}
    canary = run_load_sync(first.url + "/", requests=50, headers={"X-Canary": "1"})
    assert canary.by_header["X-Version"] == {"v2": 50}


def test_a_killed_proxy_restarts_with_its_table(unstarted, app_factory):
    p = unstarted
    a = app_factory("v1")
    p.start()
    p.apply(table_of(3, ("v1", 100, [a])))
    p.proc.kill()  # SIGKILL: only the state file survives
    p.start()
    assert p.admin.table().version == 3
    assert run_load_sync(p.url + "/", requests=20).statuses == {200: 20}


def test_proxy_restarts_under_load_fail_no_request(unstarted, app_factory):
    p = unstarted
    apps = [app_factory("v1"), app_factory("v1")]
    p.start()
    p.apply(table_of(1, ("v1", 100, apps)))
    with LoadInBackground(p.url + "/", connections=16, duration=60) as load:
        load.wait_for_responses(300)
        for _ in range(3):  # each new process takes the sockets over from the last
            old = p.proc
            p.start()
            old.wait(30)  # the old one drained and left by itself
            assert old.returncode == 0
            load.wait_for_responses(load.progress()[0] + 300)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert "took over" in p.proc.log()
    assert p.admin.table().version == 1


def test_sigterm_under_load_finishes_in_flight_requests(unstarted, app_factory):
    p = unstarted
    app = app_factory("v1")
    p.start()
    p.apply(table_of(1, ("v1", 100, [app])))
    with LoadInBackground(p.url + "/slow?ms=300", connections=8, duration=30) as load:
        load.wait_for_responses(16)
        p.proc.signal(signal.SIGTERM)
        assert p.proc.wait(15) == 0
        result = load.stop()
    # every request the proxy accepted was answered; after it stopped, connects are refused
    assert result.statuses.get(200, 0) >= 16
    assert set(result.errors) <= {"connect refused"}, result.summary()
    assert not any(code != 200 for code in result.statuses), result.summary()
