"""HTTP/2 from clients in the real proxy process: curl (nghttp2) with prior knowledge and
over TLS, a Python h2 client for many streams on one connection, drain and a hitless
restart (GOAWAY with open streams finishing), several services, its metrics, and table
changes under h2load with no failed request. Backends speak HTTP/1.1 (examples/app).
What it refuses: test_proxy_http2_refusals.py."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from tests.support.certs import TestCA
from tests.support.h2client import CURL, H2Client, curl
from tests.support.net import HOST, free_port, wait_until
from tests.support.proxy import ProxyProcess, table_of
from zerodown.model import Sticky
from zerodown.proxy.client import AdminClient

H2LOAD = shutil.which("h2load")


def test_curl_prior_knowledge_is_served_as_http2_with_the_same_routing(h2c_proxy):
    url = f"http://{HOST}:{h2c_proxy.port}"
    out = curl("--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}",
               "-D", "-", f"{url}/version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("\n2 200"), out.stdout
    assert "x-version: v1" in out.stdout
    canary = curl("--http2-prior-knowledge", "-H", "X-Canary: 1", "-D", "-", f"{url}/version")
    assert "x-version: v2" in canary.stdout, canary.stdout
    head = curl("--http2-prior-knowledge", "-I", f"{url}/")  # HEAD: headers, no body
    assert head.returncode == 0 and head.stdout.startswith("HTTP/2 200"), head
    body = bytes(range(256)) * 400  # with content-length, and chunked to the backend (-T -)
    for args in (["--data-binary", "@-"], ["-T", "-"]):
        echo = subprocess.run([CURL, "-sS", "--http2-prior-knowledge", *args, f"{url}/echo"],
                              input=body, capture_output=True, timeout=20)
        assert echo.returncode == 0 and echo.stdout == body, (args, echo.stderr)
    plain = curl("-w", "%{http_version}", "-o", "/dev/null", f"{url}/")  # HTTP/1.1 still
    assert plain.stdout == "1.1"
    stats = h2c_proxy.stats()["revisions"]
    assert stats["v1"]["requests"] >= 5 and stats["v2"]["requests"] == 1, stats
    assert stats["v1"]["in_flight"] == 0


def test_the_preface_after_an_http1_request_is_still_refused(h2c_proxy):
    with socket.create_connection((HOST, h2c_proxy.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 400")


def test_many_concurrent_streams_on_one_connection_each_get_their_own_answer(h2c_proxy):
    c = H2Client(HOST, h2c_proxy.port)
    try:
        c.wait(lambda: c.server_settings)
        assert c.server_settings.get(3) == 100  # SETTINGS_MAX_CONCURRENT_STREAMS
        sids = [c.request("POST", "/echo", body=b"stream-%d" % i,
                          headers=[("x-canary", "1" if i % 10 == 0 else "0")])
                for i in range(60)]
        sids += [c.request("GET", "/slow?ms=200") for _ in range(20)]
        answers = c.wait_all(sids, timeout=30)
        for i, a in enumerate(answers[:60]):
            assert a.status == 200 and bytes(a.body) == b"stream-%d" % i, (i, a)
            assert a.headers["x-version"] == ("v2" if i % 10 == 0 else "v1")
        assert all(a.status == 200 and a.ended for a in answers[60:])
    finally:
        c.close()


def test_sticky_cookie_is_set_over_http2(tmp_path, app_factory):
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    try:
        p.start()
        p.apply(table_of(1, ("v1", 50, [app_factory("v1")]), ("v2", 50, [app_factory("v2")]),
                         sticky=Sticky("cookie", "zd_split", 600)))
        c = H2Client(HOST, p.port)
        first = c.get("/version")
        cookie = first.headers["set-cookie"].split(";")[0]
        assert cookie.startswith("zd_split=")
        again = [c.get("/version", headers=[("cookie", cookie)]).headers["x-version"]
                 for _ in range(10)]
        assert set(again) == {first.headers["x-version"]}, again
        c.close()
    finally:
        p.cleanup()


def test_drain_sends_goaway_and_open_streams_finish(tmp_path, app_factory):
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge", "--no-supervise"])
    try:
        p.start()
        p.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
        c = H2Client(HOST, p.port)
        assert c.get("/").status == 200
        slow = [c.request("GET", "/slow?ms=1500") for _ in range(3)]
        wait_until(lambda: p.stats()["revisions"]["v1"]["in_flight"] == 3, timeout=5)
        p.proc.signal(signal.SIGTERM)
        c.wait(lambda: c.goaway is not None, timeout=5)
        assert c.goaway.error_code == 0 and c.goaway.last_stream_id == max(slow)
        answers = c.wait_all(slow, timeout=10)
        assert [a.status for a in answers] == [200, 200, 200]
        assert all(a.ended and a.reset is None for a in answers)
        c.wait(lambda: c.closed, timeout=5)  # then the proxy closes the connection
        assert c.closed
        assert p.proc.wait(timeout=10) == 0
    finally:
        p.cleanup()


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "certs")


def test_alpn_offers_h2_only_with_http2(tmp_path, ca, app_factory):
    leaf = ca.leaf("shop.test", stem="shop")
    tls = ["--tls-cert", str(leaf.cert), "--tls-key", str(leaf.key)]
    app = app_factory("v1")
    for extra, version in ((["--http2"], "2"), ([], "1.1")):
        p = ProxyProcess(tmp_path / version, extra=[*tls, *extra])
        (tmp_path / version).mkdir()
        try:
            p.start()
            p.apply(table_of(1, ("v1", 100, [app])))
            out = curl("--http2", "--cacert", str(ca.ca), "--resolve", f"shop.test:{p.port}:{HOST}",
                       "-w", "\n%{http_version}", f"https://shop.test:{p.port}/version")
            assert out.returncode == 0 and out.stdout.endswith("\n" + version), out
            if version == "2":  # and Python's ssl with ALPN h2, through the h2 library
                ctx = ssl.create_default_context(cafile=str(ca.ca))
                c = H2Client(HOST, p.port, tls=ctx, server_name="shop.test")
                answers = c.wait_all([c.request("GET", "/version") for _ in range(20)])
                assert {a.status for a in answers} == {200}
                c.close()
                http1 = curl("--http1.1", "--cacert", str(ca.ca), "--resolve",
                             f"shop.test:{p.port}:{HOST}", "-w", "\n%{http_version}",
                             f"https://shop.test:{p.port}/version")
                assert http1.stdout.endswith("\n1.1"), http1
        finally:
            p.cleanup()


@pytest.mark.skipif(H2LOAD is None, reason="h2load (nghttp2-client) is installed by setup.sh")
def test_table_changes_under_h2_load_fail_no_request(tmp_path, app_factory):
    """A rolling replacement of every backend, as a deployment drives the proxy, while
    h2load sends over 8 connections x 10 streams: every response is a 2xx."""
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    try:
        p.start()
        old = [app_factory("v1"), app_factory("v1")]
        new = [app_factory("v2"), app_factory("v2")]
        p.apply(table_of(1, ("v1", 100, old)))
        load = subprocess.Popen([H2LOAD, "-D", "6", "-c", "8", "-m", "10", "-t", "1",
                                 f"http://{HOST}:{p.port}/"], stdout=subprocess.PIPE, text=True)
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(load.stdout.read()))
        reader.start()
        time.sleep(1.0)
        p.apply(table_of(2, ("v1", 100, [old[0]]), ("v2", 0, [new[0]])))
        p.apply(table_of(3, ("v1", 50, [old[0]]), ("v2", 50, [new[0]])))
        time.sleep(1.0)
        p.apply(table_of(4, ("v2", 100, new)))
        wait_until(lambda: all(b["state"] != "draining"
                               for b in p.stats()["backends"].values()), timeout=10)
        for app in old:
            app.cleanup()
        assert load.wait(timeout=30) == 0
        reader.join(5)
        text = out[0]
        done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                         r"(\d+) failed, (\d+) errored", text)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
        assert done and codes, text
        assert int(done.group(3)) > 500 and done.group(4) == "0" and done.group(5) == "0", text
        assert codes.group(4) == "0" and codes.group(3) == "0", text
        stats = p.stats()["revisions"]
        assert stats["v2"]["requests"] > 0 and stats["v1"]["responses"]["5xx"] == 0, stats
    finally:
        p.cleanup()


def test_a_hitless_restart_sends_goaway_and_the_old_streams_finish(tmp_path, app_factory):
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    try:
        p.start()
        p.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
        old_pid = p.serving_pid()
        c = H2Client(HOST, p.port)
        slow = [c.request("GET", "/slow?ms=2000") for _ in range(2)]
        wait_until(lambda: p.stats()["revisions"]["v1"]["in_flight"] == 2, timeout=5)
        p.start()  # a second proxy with the same state takes the sockets over
        c.wait(lambda: c.goaway is not None, timeout=10)
        assert c.goaway.error_code == 0 and c.goaway.last_stream_id == max(slow)
        assert [a.status for a in c.wait_all(slow, timeout=10)] == [200, 200]
        c.close()
        fresh = H2Client(HOST, p.port)
        assert fresh.get("/version").status == 200
        fresh.close()
        assert p.serving_pid() != old_pid
    finally:
        p.cleanup()


def test_several_services_pick_each_stream_by_its_authority(tmp_path, app_factory):
    """One h2 connection, streams for two services and an unknown host: each stream is
    routed by its own :authority, as an HTTP/1.1 request is by its Host."""
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    try:
        p.start()
        shop, api = app_factory("shop-v1"), app_factory("api-v1")
        for name, hosts, prefix, app, rev in (("shop", ["shop.test"], "/", shop, "s1"),
                                              ("api", ["api.test"], "/", api, "a1")):
            admin = AdminClient(p.admin_spec, timeout=5, service=name)
            assert admin.register(hosts, prefix)
            admin.apply(table_of(1, (rev, 100, [app])))
        c = H2Client(HOST, p.port)
        sids = []
        for authority in ("shop.test", "api.test", "nope.test", "shop.test"):
            c.authority = authority
            sids.append(c.request("GET", "/"))
        answers = c.wait_all(sids)
        assert [bytes(a.body) for a in answers] == [
            b"hello from shop-v1\n", b"hello from api-v1\n",
            b"no service here for this host and path\n", b"hello from shop-v1\n"]
        assert answers[2].status == 404
        c.close()
        assert AdminClient(p.admin_spec, timeout=5, service="shop").stats()[
            "revisions"]["s1"]["requests"] == 2
        assert p.stats()["unknown_host"] == 1
    finally:
        p.cleanup()


def test_h2_requests_count_in_the_same_metrics_retries_and_saved_included(tmp_path, app_factory):
    """A backend that refuses connections: the h2 request is retried on the other one and
    counted `saved`, with its status class and latency, as an HTTP/1.1 request is."""
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    try:
        p.start()
        live = app_factory("v1")
        dead = type("Dead", (), {"port": free_port()})()  # nothing listens there
        p.apply(table_of(1, ("v1", 100, [dead, live])))
        c = H2Client(HOST, p.port)
        answers = c.wait_all([c.request("GET", "/version") for _ in range(6)])
        assert {a.status for a in answers} == {200}
        c.close()
        v1 = p.stats()["revisions"]["v1"]
        assert v1["requests"] == 6 and v1["responses"]["2xx"] == 6, v1
        assert v1["saved"] >= 1 and v1["retries"] >= 1 and v1["latency_ms"]["p50"] is not None
        assert 'zerodown_requests_total{service="zerodown",revision="v1"} 6' in p.admin.metrics()
    finally:
        p.cleanup()
