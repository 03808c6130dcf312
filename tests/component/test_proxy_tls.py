"""TLS termination in the real proxy process, with certificates the test makes (openssl):
curl and Python's ssl as clients, SNI, the https redirect, and a rotation under load."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys

import pytest

from tests.support.certs import TestCA
from tests.support.net import HOST, free_port, wait_until
from tests.support.proxy import ProxyProcess, table_of
from tests.support.installed import needs
from zerodown.loadgen import LoadInBackground


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "certs")


@pytest.fixture
def tls_proxy(tmp_path, ca, app_factory):
    """A proxy on TLS: default cert for shop.test, SNI certs for api.test and *.img.test."""
    default = ca.leaf("shop.test", stem="shop")
    api = ca.leaf("api.test", stem="api")
    img = ca.leaf("*.img.test", stem="img")
    redirect = free_port()
    p = ProxyProcess(tmp_path, extra=[
        "--tls-cert", str(default.cert), "--tls-key", str(default.key),
        "--tls-sni", f"api.test={api.cert},{api.key}",
        "--tls-sni", f"*.img.test={img.cert},{img.key}",
        "--redirect-http", f"{HOST}:{redirect}"])
    p.redirect_port = redirect
    p.certs = {"shop": default, "api": api, "img": img}
    p.start()
    p.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
    yield p
    p.cleanup()


def presented_serial(port: int, name: str | None, cafile, check: bool = True,
                     host: str = HOST) -> str:
    """The serial of the certificate the server at `host` shows for SNI `name`, verified by
    the CA (and for `name` when `check`)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = check
    with socket.create_connection((host, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("=")[1].lower()


def https_get(port: int, name: str, cafile, path: str = "/") -> http.client.HTTPResponse:
    ctx = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection(HOST, port, timeout=5, context=ctx)
    conn.sock = ctx.wrap_socket(socket.create_connection((HOST, port), timeout=5),
                                server_hostname=name)
    conn.request("GET", path, headers={"Host": name})
    resp = conn.getresponse()
    resp.body = resp.read()
    conn.close()
    return resp


def test_sni_picks_the_certificate_of_the_name_and_the_default_otherwise(tls_proxy, ca):
    certs = tls_proxy.certs
    assert presented_serial(tls_proxy.port, "api.test", ca.ca) == certs["api"].serial
    assert presented_serial(tls_proxy.port, "a.img.test", ca.ca) == certs["img"].serial
    assert presented_serial(tls_proxy.port, "shop.test", ca.ca) == certs["shop"].serial
    assert presented_serial(tls_proxy.port, "other.test", ca.ca, check=False) \
        == certs["shop"].serial
    # no SNI at all (an IP address): the default certificate
    ctx = ssl.create_default_context(cafile=str(ca.ca))
    ctx.check_hostname = False
    with ctx.wrap_socket(socket.create_connection((HOST, tls_proxy.port), timeout=5)) as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        der = s.getpeercert(binary_form=True)
    assert der == ssl.PEM_cert_to_DER_cert(certs["shop"].cert.read_text())
    # a wildcard covers one label only, as certificates match: the default answers
    assert presented_serial(tls_proxy.port, "a.b.img.test", ca.ca, check=False) \
        == certs["shop"].serial
    with pytest.raises(ssl.SSLCertVerificationError):
        presented_serial(tls_proxy.port, "a.b.img.test", ca.ca)


def test_requests_over_tls_reach_the_backend_with_forwarded_proto_https(tmp_path, ca,
                                                                        raw_backend):
    leaf = ca.leaf("shop.test")
    p = ProxyProcess(tmp_path, extra=["--tls-cert", str(leaf.cert), "--tls-key", str(leaf.key)])
    try:
        p.start()
        backend = raw_backend()
        p.apply(table_of(1, ("v1", 100, [backend])))
        resp = https_get(p.port, "shop.test", ca.ca)
        assert resp.status == 200
        req, = backend.requests
        assert req.header_values("x-forwarded-proto") == ["https"]
    finally:
        p.cleanup()


def test_curl_speaks_https_through_the_proxy_and_old_protocols_are_refused(tls_proxy, ca):
    url = f"https://api.test:{tls_proxy.port}/"
    resolve = f"api.test:{tls_proxy.port}:{HOST}"
    ok = subprocess.run(["curl", "-sS", "--cacert", str(ca.ca), "--resolve", resolve,
                         "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}", url],
                        capture_output=True, text=True, timeout=20)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "200 0"
    old = subprocess.run(["curl", "-sS", "--cacert", str(ca.ca), "--resolve", resolve,
                          "--tlsv1.1", "--tls-max", "1.1", "-o", "/dev/null", url],
                         capture_output=True, text=True, timeout=20)
    assert old.returncode != 0  # TLS 1.1 and older: no handshake


def test_plain_http_gets_a_308_to_the_same_url_on_https(tls_proxy):
    conn = http.client.HTTPConnection(HOST, tls_proxy.redirect_port, timeout=5)
    conn.request("POST", "/cart?id=7", body=b"x", headers={"Host": "shop.test:80"})
    resp = conn.getresponse()
    assert resp.status == 308
    assert resp.getheader("Location") == f"https://shop.test:{tls_proxy.port}/cart?id=7"
    conn.close()
    conn = http.client.HTTPConnection(HOST, tls_proxy.redirect_port, timeout=5)
    conn.putrequest("GET", "/", skip_host=True)
    conn.endheaders()
    assert conn.getresponse().status == 400  # no Host: no name to send the client to
    conn.close()


def test_a_rotated_certificate_serves_new_handshakes_and_no_request_fails(tls_proxy, ca):
    """The certificate files are replaced under load (as certbot does): the proxy notices,
    new handshakes get the new certificate, and not one request fails: neither of the
    keep-alive load nor of the new connections made one after another meanwhile."""
    old = tls_proxy.certs["api"]
    url = f"https://{HOST}:{tls_proxy.port}/"
    with LoadInBackground(url, connections=4, duration=30, cafile=str(ca.ca),
                          server_name="api.test", headers={"Host": "api.test"},
                          count_header=None) as load:
        load.wait_for_responses(200)
        new = ca.leaf("api.test", stem="api")  # the same paths, new key and certificate
        assert new.serial != old.serial
        serials = []
        while not serials or serials[-1] != new.serial:  # each one a new handshake
            assert len(serials) < 2000, "the new certificate was never served"
            serials.append(presented_serial(tls_proxy.port, "api.test", ca.ca))
            assert https_get(tls_proxy.port, "api.test", ca.ca).status == 200
        done = load.progress()[0]
        load.wait_for_responses(done + 200)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert serials[0] == old.serial and set(serials) == {old.serial, new.serial}
    assert "certificates reloaded" in tls_proxy.proc.log()


def test_a_broken_certificate_file_leaves_the_old_one_in_force(tls_proxy, ca):
    before = tls_proxy.certs["shop"]
    before.cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    wait_until(lambda: "certificates not reloaded" in tls_proxy.proc.log(), timeout=10)
    assert presented_serial(tls_proxy.port, "shop.test", ca.ca) == before.serial
    assert https_get(tls_proxy.port, "shop.test", ca.ca).status == 200


@pytest.mark.parametrize("extra, says", [
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
     "cannot read '/nonexistent.pem': no such file"),
    (["--tls-cert", "CERT"], "needs both --tls-cert and --tls-key"),
    (["--tls-cert", "CERT", "--tls-key", "OTHERKEY"], "does not load"),
    (["--tls-cert", "CERT", "--tls-key", "KEY", "--tls-sni", "bad name=CERT,KEY"],
     "'bad name' is not a host name"),
    (["--tls-cert", "CERT", "--tls-key", "KEY", "--tls-sni", "api.test"],
     "expected NAME[,NAME...]=CERT,KEY"),
    (["--redirect-http", "127.0.0.1:1"], "add --tls-cert and --tls-key"),
])
def test_bad_tls_settings_are_refused_with_a_clear_error(tmp_path, ca, extra, says):
    a, b = ca.leaf("a.test"), ca.leaf("b.test")
    subst = {"CERT": str(a.cert), "KEY": str(a.key), "OTHERKEY": str(b.key)}
    argv = [subst.get(x, x.replace("CERT", str(a.cert)).replace("KEY", str(a.key))) for x in extra]
    out = subprocess.run([sys.executable, "-m", "zerodown", "proxy", "--listen", f"{HOST}:0",
                          "--admin", f"unix:{tmp_path}/a.sock", "--state", str(tmp_path / "s.json"),
                          *argv], capture_output=True, text=True, timeout=20,
                         env={**os.environ})
    assert out.returncode == 2, out
    assert says in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_tls_in_zerodown_yaml_makes_the_embedded_router_serve_https(tmp_path, ca, app_factory):
    from zerodown.config import parse_config
    from zerodown.routers import router_for
    leaf, port, plain = ca.leaf("shop.test"), free_port(), free_port()
    path = tmp_path / "zerodown.yaml"
    path.write_text(f'service: shop\nlisten: {HOST}:{port}\napp: {{command: "x {{port}}"}}\n'
                    f"tls: {{cert: {leaf.cert}, key: {leaf.key}, redirect_http: {HOST}:{plain}}}\n")
    router = router_for(parse_config(path.read_text(), file=str(path)), tmp_path / "state")
    assert router.url == f"https://{HOST}:{port}"
    try:
        router.ensure_running()
        router.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
        resp = https_get(port, "shop.test", ca.ca)
        assert (resp.status, resp.getheader("X-Version")) == (200, "v1")
        conn = http.client.HTTPConnection(HOST, plain, timeout=5)
        conn.request("GET", "/a", headers={"Host": "shop.test"})
        assert conn.getresponse().getheader("Location") == f"https://shop.test:{port}/a"
        conn.close()
    finally:
        router.stop(timeout=5)


@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_haproxy_and_nginx_routers_terminate_tls_with_the_same_settings(tmp_path, ca,
                                                                         raw_backend, kind):
    """The settings a zerodown.yaml's tls: gives: SNI, the default certificate, TLS only,
    X-Forwarded-Proto https and the 308 redirect, served by the real load balancer."""
    from zerodown.routers.haproxy import HAProxyRouter
    from zerodown.routers.nginx import NginxRouter
    from zerodown.tls_config import NamedCert, TlsSettings
    if shutil.which(kind) is None and not os.path.exists(f"/usr/sbin/{kind}") \
            and os.environ.get("CI") != "true":
        pytest.skip(f"{kind} is not installed (scripts/setup.sh installs it)")
    shop, api = ca.leaf("shop.test"), ca.leaf("api.test")
    port, plain = free_port(), free_port()
    tls = TlsSettings(str(shop.cert), str(shop.key),
                      (NamedCert(("api.test",), str(api.cert), str(api.key)),), f"{HOST}:{plain}")
    make = HAProxyRouter if kind == "haproxy" else NginxRouter
    router = make(tmp_path / kind, f"{HOST}:{port}", service="shop", tls=tls)
    try:
        router.ensure_running()
        backend = raw_backend()
        router.apply(table_of(1, ("v1", 100, [backend])))
        assert presented_serial(port, "api.test", ca.ca) == api.serial
        assert presented_serial(port, "other.test", ca.ca, check=False) == shop.serial
        assert https_get(port, "shop.test", ca.ca).status == 200
        assert backend.requests[-1].header_values("x-forwarded-proto") == ["https"]
        conn = http.client.HTTPConnection(HOST, plain, timeout=5)
        conn.request("GET", "/a?b=1", headers={"Host": "shop.test:80"})
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("Location")) == (308, f"https://shop.test:{port}/a?b=1")
        conn.close()
    finally:
        router.stop()


def test_sighup_to_the_supervisor_reloads_the_certificates_and_restarts_nothing(tls_proxy, ca):
    serving = tls_proxy.serving_pid()
    assert "certificates reloaded" not in tls_proxy.proc.log()
    os.kill(tls_proxy.proc.pid, signal.SIGHUP)  # the pid a user finds: the supervisor's
    wait_until(lambda: "certificates reloaded" in tls_proxy.proc.log(), timeout=10)
    assert tls_proxy.proc.alive and tls_proxy.serving_pid() == serving
    assert https_get(tls_proxy.port, "shop.test", ca.ca).status == 200


def test_sighup_to_a_plain_proxy_changes_nothing(proxy, app_factory):
    proxy.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
    serving = proxy.serving_pid()
    os.kill(proxy.proc.pid, signal.SIGHUP)
    os.kill(serving, signal.SIGHUP)
    conn = http.client.HTTPConnection(HOST, proxy.port, timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    conn.close()
    assert proxy.proc.alive and proxy.serving_pid() == serving
    assert "restarting" not in proxy.proc.log()


@needs("haproxy")
def test_a_renewed_certificate_reaches_a_running_haproxy_at_the_next_apply(tmp_path, ca,
                                                                           raw_backend):
    """Without a reload: through HAProxy's Runtime API, under load, no request failing."""
    from zerodown.routers.haproxy import HAProxyRouter
    from zerodown.tls_config import TlsSettings
    old = ca.leaf("shop.test", stem="renewed")
    port = free_port()
    router = HAProxyRouter(tmp_path / "haproxy", f"{HOST}:{port}", service="shop",
                           tls=TlsSettings(str(old.cert), str(old.key)))
    try:
        router.ensure_running()
        master = router.pid
        table = table_of(1, ("v1", 100, [raw_backend()]))
        router.apply(table)
        assert presented_serial(port, "shop.test", ca.ca) == old.serial
        with LoadInBackground(f"https://{HOST}:{port}/", connections=4, duration=30,
                              cafile=str(ca.ca), server_name="shop.test",
                              count_header=None) as load:
            load.wait_for_responses(100)
            new = ca.leaf("shop.test", stem="renewed")  # the same files, renewed
            assert router.apply(table) is False  # the table did not change
            assert presented_serial(port, "shop.test", ca.ca) == new.serial
            load.wait_for_responses(load.progress()[0] + 100)
            result = load.stop()
        assert result.failed() == 0, result.summary()
        assert router.pid == master
    finally:
        router.stop()


def test_several_services_behind_one_tls_listener_each_get_their_hosts(tls_proxy, ca,
                                                                          app_factory):
    """Issue 16.2 with TLS: the certificate is the listener's (SNI), the service the Host's."""
    from zerodown.proxy.client import AdminClient
    api_app, img_app = app_factory("api-v1"), app_factory("img-v1")
    for name, hosts, app in (("api", ["api.test"], api_app), ("img", ["*.img.test"], img_app)):
        client = AdminClient(tls_proxy.admin_spec, timeout=5, service=name)
        client.register(hosts)
        client.apply(table_of(1, ("r1", 100, [app])))
    assert https_get(tls_proxy.port, "api.test", ca.ca).body == b"hello from api-v1\n"
    assert https_get(tls_proxy.port, "a.img.test", ca.ca).body == b"hello from img-v1\n"
    # shop.test is nobody's but the default service's, which has a table: it serves it
    assert https_get(tls_proxy.port, "shop.test", ca.ca).body == b"hello from v1\n"
    assert presented_serial(tls_proxy.port, "api.test", ca.ca) == tls_proxy.certs["api"].serial


def test_hitless_restarts_under_https_load_fail_no_request(tls_proxy, ca):
    """A new proxy takes the TLS listener over (the same socket, tls_transport.TlsServer on
    it) while keep-alive HTTPS load runs: the old one drains, not one request fails."""
    url = f"https://{HOST}:{tls_proxy.port}/"
    with LoadInBackground(url, connections=8, duration=60, cafile=str(ca.ca),
                          server_name="shop.test", headers={"Host": "shop.test"},
                          count_header=None) as load:
        load.wait_for_responses(200)
        for _ in range(2):
            old = tls_proxy.proc
            tls_proxy.start()
            old.wait(30)  # the old one drained and left by itself
            assert old.returncode == 0
            load.wait_for_responses(load.progress()[0] + 200)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert "took over" in tls_proxy.proc.log()
    assert https_get(tls_proxy.port, "shop.test", ca.ca).status == 200
