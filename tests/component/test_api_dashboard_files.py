"""The controller's TCP listener serves the dashboard's files without a token (a browser
loads a page's scripts without an Authorization header), and nothing else."""

from __future__ import annotations

import http.client

import pytest

from zerodown.api.errors import ApiError
from zerodown.api.routes import Api
from zerodown.api.server import TcpServer, serve_in_thread


def refuse(request):
    raise ApiError(401, "a bearer token is required", "Authorization")


@pytest.fixture
def server():
    api = Api(observer=None, actions=None, service="shop", controller_pid=lambda: None)
    tcp = TcpServer(("127.0.0.1", 0), api, refuse)
    serve_in_thread(tcp, "test-api")
    yield tcp.server_address[1]
    tcp.shutdown()
    tcp.server_close()


def get(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    reply = conn.getresponse()
    out = reply.status, reply.getheader("Content-Type") or "", reply.read()
    conn.close()
    return out


@pytest.mark.parametrize("path, kind", [("/dashboard/", "text/html"), ("/dashboard/app.js", "text/javascript"),
                                        ("/dashboard/summary.js", "text/javascript"),
                                        ("/dashboard/app.css", "text/css")])
def test_the_dashboards_files_need_no_token(server, path, kind):
    status, content_type, body = get(server, path)
    assert (status, content_type.split(";")[0]) == (200, kind) and body


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/table", "/api/v1/stream",
                                  "/dashboard/../api/v1/status"])
def test_everything_else_does(server, path):
    status, _, body = get(server, path)
    assert status in (401, 404), (status, body)
    if path.startswith("/api/"):
        assert status == 401


def test_a_missing_dashboard_file_is_404_not_a_listing(server):
    assert get(server, "/dashboard/nope.js")[0] == 404
    assert get(server, "/dashboard/../pyproject.toml")[0] == 404
