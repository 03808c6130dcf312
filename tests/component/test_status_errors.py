"""`zerodown status`'s ERRORS per revision (and the dashboard's error rate) count each
failed response once: a 502 the load balancer made itself is one of its 5xx answers too,
and was counted in both (1 request, 2 errors: ERROR % 200.00 on a newcomer's fleet whose
instances were gone)."""

from __future__ import annotations

import os
import signal

from tests.support.cli import service, up  # noqa: F401
from tests.support.net import get
from zerodown.daemon.observer import point


def test_a_502_the_proxy_made_is_one_error_of_one_request(up):
    s = up
    before = s.status()["traffic"][0]
    for pid in s.pids():
        os.kill(pid, signal.SIGKILL)  # the instances gone, the proxy answers for them
    statuses = [get(s.port, "/").status for _ in range(3)]
    failed = sum(code >= 500 for code in statuses)
    assert failed, statuses
    after = s.status()["traffic"][0]
    assert after["requests"] - before["requests"] == 3, (before, after)
    assert after["errors"] - before["errors"] == failed, (statuses, before, after)


def test_a_metrics_point_counts_a_proxy_error_once():
    before = {"requests": 10, "responses": {"5xx": 0}, "errors": 0}
    after = {"requests": 11, "responses": {"5xx": 1}, "errors": 1}  # the proxy's own 502
    assert point(1000.0, 1.0, before, after)["error_rate"] == 1.0
