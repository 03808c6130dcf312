"""The embedded proxy mirrors users' requests to a shadow (admin PUT /shadow): users get
stable's answers only, the shadow's are compared beside them."""

from __future__ import annotations

import json
import time

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


def test_a_shadow_answering_differently_is_counted_and_users_only_see_stable(proxy, app_factory):
    stable, same, other = app_factory("v1"), app_factory("v1"), app_factory("v2")
    proxy.apply(table_of(3, ("v1", 100, [stable])))
    assert call(proxy, "GET") == (200, None)

    status, doc = call(proxy, "PUT", {"address": f"{HOST}:{same.port}", "ignore": ["$.pid", "$.port"]})
    assert status == 200 and doc["methods"] == ["GET", "HEAD"] and doc["unsafe_methods"] == []
    result = run_load_sync(f"{proxy.url}/version", connections=4, requests=300)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    stats = settled(proxy, 300)
    assert (stats["compared"], stats["differing"]) == (300, 0), stats["examples"]

    call(proxy, "PUT", {"address": f"{HOST}:{other.port}", "percent": 50})
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
