"""One page load over https through the embedded proxy in a real browser (Debian's
chromium, driven by Playwright): SNI picks the certificate, the page arrives over TLS."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import subprocess
import tempfile

from tests.support.certs import TestCA
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, require_chromium, sync_playwright
from tests.support.net import HOST, wait_until
from tests.support.proxy import ProxyProcess, table_of

require_chromium()


def spki_sha256(cert_pem: str) -> str:
    """What --ignore-certificate-errors-spki-list takes: this key and no other is trusted."""
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=cert_pem.encode(),
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@contextlib.contextmanager
def chromium_trusting(tmp_path, name: str, leaf):
    """A headless Chromium that resolves `name` to the proxy's host and trusts `leaf`'s key."""
    args = [*CHROMIUM_FLAGS, f"--host-resolver-rules=MAP {name} {HOST}",
            f"--ignore-certificate-errors-spki-list={spki_sha256(leaf.cert.read_text())}"]
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=tmp_path, prefix="chromium-"), executable_path=CHROMIUM,
            headless=True, args=args)
        try:
            yield context
        finally:
            context.close()


def test_chromium_loads_a_page_over_https_with_the_sni_certificate(tmp_path, app_factory):
    ca = TestCA(tmp_path / "certs")
    shop, api = ca.leaf("shop.test"), ca.leaf("api.test")
    proxy = ProxyProcess(tmp_path, extra=["--tls-cert", str(shop.cert), "--tls-key", str(shop.key),
                                          "--tls-sni", f"api.test={api.cert},{api.key}"])
    try:
        proxy.start()
        proxy.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
        with chromium_trusting(tmp_path, "api.test", api) as context:
            response = context.new_page().goto(f"https://api.test:{proxy.port}/version")
            assert response is not None and response.status == 200
            assert response.headers.get("x-version") == "v1"
            details = response.security_details() or {}
            assert details.get("subjectName") == "api.test", details
            assert details.get("protocol") in ("TLS 1.2", "TLS 1.3"), details
    finally:
        proxy.cleanup()


def test_chromium_loads_a_page_over_http2_when_the_proxy_offers_it(tmp_path, app_factory):
    ca = TestCA(tmp_path / "certs")
    shop = ca.leaf("shop.test")
    proxy = ProxyProcess(tmp_path, extra=["--tls-cert", str(shop.cert), "--tls-key",
                                          str(shop.key), "--http2"])
    try:
        proxy.start()
        proxy.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
        with chromium_trusting(tmp_path, "shop.test", shop) as context:
            page = context.new_page()
            response = page.goto(f"https://shop.test:{proxy.port}/version")
            assert response is not None and response.status == 200
            assert response.headers.get("x-version") == "v1"
            # the page's own navigation entry says which protocol carried it, and a
            # few fetches in parallel share that connection as streams
            protocol = page.evaluate("performance.getEntriesByType('navigation')[0]"
                                     ".nextHopProtocol")
            assert protocol == "h2", protocol
            statuses = page.evaluate("Promise.all([1,2,3,4,5,6].map(i => fetch('/version?'"
                                     " + i).then(r => r.status)))")
            assert statuses == [200] * 6
        wait_until(lambda: proxy.stats()["revisions"]["v1"]["requests"] >= 7, timeout=5)
    finally:
        proxy.cleanup()
