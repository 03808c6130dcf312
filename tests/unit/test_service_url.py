"""The address status, the dashboard and `up` show: on a shared proxy it names the service's
host and path prefix (the listener alone gets the proxy's 404)."""

from __future__ import annotations

import dataclasses

from zerodown.config import parse_config
from zerodown.render import status_text
from zerodown.views import ProxyView, StatusView, status_dict, status_from_dict
from zerodown.service_url import ServiceUrl, config_url, service_url
from zerodown.tls_config import TlsSettings


def shared(**options) -> dict:
    return {"shared": "edge", **options}


def test_alone_on_its_listener_the_listener_is_the_address():
    assert service_url("127.0.0.1:8080", "http", "embedded", {}) == ServiceUrl(
        "http://127.0.0.1:8080")
    assert service_url("0.0.0.0:8443", "https", "haproxy", {}).url == "https://0.0.0.0:8443"


def test_shared_names_its_first_exact_host_and_its_prefix():
    got = service_url("0.0.0.0:8080", "http", "embedded", shared(
        hosts=["*.shop.example.com", "shop.example.com", "www.shop.example.com"],
        path_prefix="/shop"))
    assert got == ServiceUrl("http://shop.example.com:8080/shop/")
    assert got.text() == "http://shop.example.com:8080/shop/"
    assert service_url("127.0.0.1:8080", "http", "embedded", shared(
        hosts=["api.example.com"], path_prefix="/api/")).url == "http://api.example.com:8080/api/"


def test_shared_scheme_and_default_ports():
    assert service_url("0.0.0.0:443", "https", "embedded", shared(
        hosts=["shop.example.com"])).url == "https://shop.example.com/"
    assert service_url("0.0.0.0:80", "http", "embedded", shared(
        hosts=["shop.example.com"])).url == "http://shop.example.com/"
    assert service_url("0.0.0.0:443", "http", "embedded", shared(
        hosts=["shop.example.com"])).url == "http://shop.example.com:443/"


def test_only_wildcard_hosts_give_the_listener_and_the_host_to_send():
    got = service_url("0.0.0.0:8080", "http", "embedded", shared(
        hosts=["*.shop.example.com"], path_prefix="/shop"))
    assert got == ServiceUrl("http://127.0.0.1:8080/shop/", "x.shop.example.com")
    assert "wildcards" in got.text()
    assert "curl -H 'Host: x.shop.example.com' http://127.0.0.1:8080/shop/" in got.text()


def test_no_hosts_takes_any_host_under_its_prefix():
    assert service_url("[::]:8080", "http", "embedded", shared(path_prefix="/api")) == \
        ServiceUrl("http://[::1]:8080/api/")


def test_from_a_zerodown_yaml_and_with_tls():
    cfg = parse_config("""\
service: shop
listen: 0.0.0.0:8443
app: {command: "python app.py --port {port}"}
router: {kind: embedded, shared: edge, hosts: [shop.example.com], path_prefix: /shop}
""", file="/srv/shop/zerodown.yaml")
    assert config_url(cfg).url == "http://shop.example.com:8443/shop/"
    cfg = dataclasses.replace(cfg, tls=TlsSettings("/etc/shop.pem", "/etc/shop.key"))
    assert config_url(cfg).url == "https://shop.example.com:8443/shop/"


def test_status_text_and_json_carry_it_both_ways():
    view = StatusView("shop", "0.0.0.0:8080", None, ProxyView(False), None, deployed=False,
                      address=ServiceUrl("http://127.0.0.1:8080/", "x.example.com"))
    doc = status_dict(view, 0.0)
    assert (doc["url"], doc["url_host"]) == ("http://127.0.0.1:8080/", "x.example.com")
    back = status_from_dict(doc, 0.0)
    assert back.address == view.address
    assert "curl -H 'Host: x.example.com' http://127.0.0.1:8080/" in status_text(back, 0.0)
    plain = status_dict(StatusView("shop", "127.0.0.1:8080", None, ProxyView(False), None,
                                   scheme="https"), 0.0)
    assert (plain["url"], plain["url_host"]) == ("https://127.0.0.1:8080", None)


def test_a_hook_reaches_a_shared_service_here_by_its_host_and_prefix():
    """ZERODOWN_URL and ZERODOWN_HOST: the listener's loopback address (no DNS needed) and
    the prefix without a final slash ($ZERODOWN_URL/healthz), the Host that picks it."""
    from zerodown.service_url import hook_address
    assert hook_address("0.0.0.0:8080", "http", "embedded", {}) == (
        "http://0.0.0.0:8080", "0.0.0.0:8080")  # alone: as always
    assert hook_address("0.0.0.0:8080", "http", "embedded", shared(
        hosts=["*.shop.example.com", "shop.example.com"], path_prefix="/shop/")) == (
        "http://127.0.0.1:8080/shop", "shop.example.com:8080")
    assert hook_address("[::]:443", "https", "embedded", shared(hosts=["*.example.com"])) == (
        "https://[::1]:443", "x.example.com")
    assert hook_address("127.0.0.1:8080", "http", "embedded", shared()) == (
        "http://127.0.0.1:8080", "127.0.0.1:8080")  # any host: never an empty Host
