"""A drain's look and the table in force in one admin call (GET /stats?table=1): what a
Stop right after a drain takes as its router check (engine/draining.py's Looked).
Against the real proxy, and a proxy from before the query (it answers /stats alone)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support import HOST
from tests.support.proxy import table_of
from zerodown import table_json
from zerodown.proxy.client import AdminClient


def test_stats_with_the_table_read_at_the_same_instant(proxy, app_factory, poll):
    a1, a2 = app_factory("v1"), app_factory("v1")
    t1 = table_of(1, ("v1", 100, [a1, a2]))
    proxy.apply(t1)
    gone, kept = f"v1-{a1.port}", f"v1-{a2.port}"
    assert "table" not in proxy.admin.stats()  # only when asked: the proof samples stats
    state, table = proxy.admin.drain_look([gone, kept])
    assert table == t1 == proxy.admin.table()
    assert state[gone][0] is False and state[kept][0] is False  # both routed
    t2 = table_of(2, ("v1", 100, [a2]))
    proxy.apply(t2)
    state, table = poll(lambda: (got := proxy.admin.drain_look([gone, kept]))[0][gone][0]
                        and got, 5, f"{gone} to drain")
    assert table == t2
    assert state[kept] == (False, proxy.admin.unanswered(kept))
    assert state == proxy.admin.drain_state([gone, kept])


def test_a_shared_proxys_service_answers_the_same_query(proxy, app_factory):
    app = app_factory("v1")
    body = json.dumps({"hosts": ["shop.example"], "path_prefix": "/"}).encode()
    assert proxy.admin.request("PUT", "/services/shop", body)[0] == 200
    shop = AdminClient(proxy.admin.admin, service="shop")
    t = table_of(1, ("v1", 100, [app]))
    shop.apply(t)
    assert shop.drain_look([f"v1-{app.port}"]) == ({f"v1-{app.port}": (False, (0, 0, 0))}, t)


class OldProxy(BaseHTTPRequestHandler):
    """A proxy from before /stats?table: the query ignored, the table only at /table."""

    table = table_of(7, ("v1", 100, []))
    asked: list[str] = []

    def do_GET(self):
        OldProxy.asked.append(self.path)
        path = self.path.split("?")[0]
        doc = table_json.to_dict(self.table) if path == "/table" else {
            "version": 7, "revisions": {}, "backends": {}}
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_proxy_from_before_the_query_is_asked_for_the_table_apart():
    server = ThreadingHTTPServer((HOST, 0), OldProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = AdminClient(f"{HOST}:{server.server_address[1]}")
        assert client.drain_look(["v1-1"]) == ({"v1-1": (True, (0, 0, 0))}, OldProxy.table)
        assert OldProxy.asked == ["/stats?table=1", "/table"]
    finally:
        server.shutdown()
        server.server_close()
