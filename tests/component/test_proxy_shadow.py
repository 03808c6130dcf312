"""The embedded proxy mirrors users' requests to a shadow (admin PUT /shadow): users get
stable's answers only, the shadow's are compared beside them."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import HOST
from tests.support.proxy import table_of
from zerodown.loadgen.run import run_load_sync


def call(proxy, method: str, body: object = None) -> tuple[int, object]:
    status, data = proxy.admin.request(method, "/shadow",
                                       None if body is None else json.dumps(body).encode())
    return status, json.loads(data)


def settled(proxy, copies: int, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = call(proxy, "GET")[1]
        done = stats["compared"] + stats["failed"] + stats["timed_out"] + stats["dropped"]
        if done >= copies:
            return stats
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)


@pytest.mark.parametrize("runner", ["process", "thread", "loop"])
def test_a_shadow_answering_differently_is_counted_and_users_only_see_stable(proxy, app_factory,
                                                                              runner):
    stable, same, other = app_factory("v1"), app_factory("v1"), app_factory("v2")
    proxy.apply(table_of(3, ("v1", 100, [stable])))
    assert call(proxy, "GET") == (200, None)

    status, doc = call(proxy, "PUT", {"address": f"{HOST}:{same.port}", "runner": runner,
                                      "ignore": ["$.pid", "$.port"]})
    assert status == 200 and doc["methods"] == ["GET", "HEAD"] and doc["unsafe_methods"] == []
    assert doc["runner"] == runner
    result = run_load_sync(f"{proxy.url}/version", connections=4, requests=300)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    stats = settled(proxy, 300)
    assert (stats["compared"], stats["differing"]) == (300, 0), stats["examples"]
    assert (stats["offered"], stats["queued"], stats["dropped"]) == (300, 0, 0), stats

    call(proxy, "PUT", {"address": f"{HOST}:{other.port}", "percent": 50, "runner": runner})
    result = run_load_sync(f"{proxy.url}/version", connections=4, requests=200)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    stats = settled(proxy, 100)
    assert stats["offered"] + stats["dropped"] == 100  # 50%: every other request copied
    assert stats["differing"] == stats["compared"] > 0
    assert stats["examples"][0]["request"].startswith("GET /version")

    assert call(proxy, "DELETE")[0] == 200 and call(proxy, "GET") == (200, None)


def test_a_bad_shadow_setting_is_refused_naming_the_field(proxy):
    status, doc = call(proxy, "PUT", {"address": "nowhere", "percent": 100})
    assert status == 400 and "address" in doc["error"]
    status, doc = call(proxy, "PUT", {"address": "127.0.0.1:1", "ignore": ["time"]})
    assert status == 400 and "ignore" in doc["error"] and "$" in doc["error"]
    assert call(proxy, "GET") == (200, None)


def workers_of(pid: int) -> list[int]:
    """The mirror's worker processes among `pid`'s children."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) \
                    == pid and b"zerodown.shadow.worker" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            pass  # gone meanwhile
    return found


def test_the_comparison_runs_in_a_low_priority_process_and_its_death_spares_users(proxy, app_factory):
    stable, other = app_factory("v1"), app_factory("v2")
    proxy.apply(table_of(3, ("v1", 100, [stable])))
    call(proxy, "PUT", {"address": f"{HOST}:{other.port}"})
    assert run_load_sync(f"{proxy.url}/version", connections=2, requests=50).failed() == 0
    stats = settled(proxy, 50)
    assert stats["differing"] == stats["compared"] > 0 and "error" not in stats
    serving = proxy.serving_pid()
    [worker] = workers_of(serving)
    assert os.getpriority(os.PRIO_PROCESS, worker) == 19  # it compares with the CPU left over
    assert os.sched_getscheduler(worker) == os.SCHED_IDLE

    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while "error" not in (stats := call(proxy, "GET")[1]):
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)
    assert "worker process ended" in stats["error"]
    result = run_load_sync(f"{proxy.url}/version", connections=2, requests=50)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    after = call(proxy, "GET")[1]
    assert after["dropped"] >= stats["dropped"] + 50 and after["offered"] == stats["offered"]

    call(proxy, "PUT", {"address": f"{HOST}:{other.port}"})  # a new shadow: a new worker
    deadline = time.monotonic() + 10
    while len(workers_of(serving)) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert call(proxy, "DELETE")[0] == 200
    while workers_of(serving):  # the worker reads the end of its socket, exits, is reaped
        assert time.monotonic() < deadline
        time.sleep(0.05)


class _Big(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b"x" * (2 << 20)  # over the 1 MiB a comparison keeps of stable's answer

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_a_response_too_large_to_compare_reaches_the_user_whole_and_is_counted(proxy):
    server = ThreadingHTTPServer((HOST, 0), _Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        proxy.apply(table_of(3, ("v1", 100, [SimpleNamespace(port=port)])))
        call(proxy, "PUT", {"address": f"{HOST}:{port}"})
        result = run_load_sync(f"{proxy.url}/big", connections=1, requests=3)
        assert result.failed() == 0
        stats = call(proxy, "GET")[1]
        assert (stats["too_large"], stats["offered"]) == (3, 0), stats
    finally:
        server.shutdown()
