"""A service under a path prefix on a shared proxy (issue 16 leftovers): its backends see
paths from `/` with `X-Forwarded-Prefix` (kamal-proxy's default), or the path unchanged with
`strip_path_prefix: false`; a client's own X-Forwarded-Prefix never reaches a backend.
Checked on the bytes a raw backend receives, over HTTP/1.1 keep-alive and h2c (curl)."""

from __future__ import annotations

import json
import subprocess

from tests.support.proxy import ProxyProcess, table_of
from zerodown.proxy.client import AdminClient


def mount(proxy, service: str, backend, hosts=("example.com",), prefix="/", **site) -> None:
    body = json.dumps({"hosts": list(hosts), "path_prefix": prefix, **site}).encode()
    status, answer = proxy.admin.request("PUT", f"/services/{service}", body)
    assert status == 200, answer
    AdminClient(proxy.admin_spec, timeout=5, service=service).apply(
        table_of(1, (f"{service}1", 100, [backend])))


def lines_of(backend) -> list[tuple[str, list[str]]]:
    return [(r.line.decode(), r.header_values("x-forwarded-prefix")) for r in backend.requests]


def test_the_prefix_is_taken_off_and_said_in_x_forwarded_prefix(proxy, raw_backend, client):
    api, www = raw_backend(), raw_backend()
    mount(proxy, "api", api, prefix="/api/")  # written with a final slash: the same mount
    mount(proxy, "www", www)
    c = client(proxy.port)
    for target in ("/api/v1/users?id=7", "/api", "/api?q=1", "/api/", "/apix", "/"):
        c.send(f"GET {target} HTTP/1.1\r\nHost: example.com\r\n"
               f"X-Forwarded-Prefix: /evil\r\n\r\n".encode())  # a client's own: dropped
        assert c.read_response().status == 200
    assert lines_of(api) == [("GET /v1/users?id=7 HTTP/1.1", ["/api"]),
                             ("GET / HTTP/1.1", ["/api"]),
                             ("GET /?q=1 HTTP/1.1", ["/api"]),
                             ("GET / HTTP/1.1", ["/api"])]
    # one connection went from api to www and back: each request says its own service's
    assert lines_of(www) == [("GET /apix HTTP/1.1", []), ("GET / HTTP/1.1", [])]
    assert api.requests[0].header_values("x-forwarded-host") == ["example.com"]
    listed = proxy.admin.services()["services"]
    assert listed["api"]["strip_path_prefix"] is True


def test_strip_path_prefix_false_forwards_the_path_unchanged(proxy, raw_backend, client):
    kept = raw_backend()
    mount(proxy, "legacy", kept, prefix="/legacy", strip_path_prefix=False)
    c = client(proxy.port)
    c.send(b"POST /legacy/form?a=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n"
           b"X-Forwarded-Prefix: /evil\r\n\r\nabc")
    assert c.read_response().status == 200
    assert lines_of(kept) == [("POST /legacy/form?a=1 HTTP/1.1", [])]
    assert kept.requests[0].body == b"abc"
    # saved with the site, and the change of that setting alone is a change
    saved = json.loads((proxy.workdir / "proxy.services" / "legacy.json").read_text())
    assert saved["strip_path_prefix"] is False
    status, answer = proxy.admin.request("PUT", "/services/legacy", json.dumps(
        {"hosts": ["example.com"], "path_prefix": "/legacy"}).encode())
    assert (status, json.loads(answer)["changed"]) == (200, True)
    c.send(b"GET /legacy/form HTTP/1.1\r\nHost: example.com\r\n\r\n")  # the same connection
    assert c.read_response().status == 200
    assert lines_of(kept)[-1] == ("GET /form HTTP/1.1", ["/legacy"])


def test_a_bad_strip_path_prefix_is_refused_naming_it(proxy):
    status, answer = proxy.admin.request("PUT", "/services/x", b'{"path_prefix": "/x", '
                                                               b'"strip_path_prefix": "yes"}')
    error = json.loads(answer)["error"]
    assert status == 400 and "strip_path_prefix: true" in error and 'got "yes"' in error


def test_an_h2_stream_is_stripped_the_same_way(tmp_path, raw_backend):
    proxy = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    proxy.start()
    try:
        api = raw_backend()
        mount(proxy, "api", api, prefix="/api")
        done = subprocess.run(
            ["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
             "--connect-to", f"example.com:80:127.0.0.1:{proxy.port}",
             "http://example.com/api/items?x=1"], capture_output=True, text=True, timeout=20)
        assert done.stdout == "200"
        assert lines_of(api) == [("GET /items?x=1 HTTP/1.1", ["/api"])]
    finally:
        proxy.cleanup()
