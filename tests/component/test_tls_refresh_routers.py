"""A renewed certificate reaches each real load balancer between deployments, with no
failed request (zerodown/tls_refresh.py deciding, Router.refresh_tls acting): the files
renewed in place, refresh() run as the controller's TLS watch runs it, and new handshakes
checked with Python's ssl. Each test first shows the load balancer did not take the
renewal by itself, so the refresh is what hands it over."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.component.test_proxy_tls import presented_serial
from tests.support.certs import Leaf, TestCA
from tests.support.installed import needs
from tests.support.net import HOST, free_port, wait_until
from tests.support.proxy import table_of
from zerodown import tls_refresh
from zerodown.loadgen import LoadInBackground
from zerodown.tls_config import TlsSettings

SLACK = 256  # bytes of trailing newlines in the served files, room for a renewal in place


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "certs")


def served(ca: TestCA) -> Leaf:
    """shop.test's certificate in files padded with newlines (PEM readers skip them)."""
    leaf = ca.leaf("shop.test", stem="served")
    for path in (leaf.key, leaf.cert):
        path.write_bytes(path.read_bytes() + b"\n" * SLACK)
    return leaf


def renew_unseen(ca: TestCA, leaf: Leaf) -> Leaf:
    """A new certificate and key for shop.test written into `leaf`'s files in place, padded
    to their old size, their mtimes put back: the embedded proxy's own once-a-second look
    (mtime, size, inode) cannot see it; only being told (SIGHUP) can."""
    new = ca.leaf("shop.test", stem="renewal")
    write_unseen(leaf.key, new.key.read_bytes())  # the key first
    write_unseen(leaf.cert, new.cert.read_bytes())
    return Leaf(leaf.cert, leaf.key, new.serial)


def write_unseen(target: Path, data: bytes) -> None:
    before = target.stat()
    assert len(data) <= before.st_size, "no room for the renewal: raise SLACK"
    with open(target, "r+b") as f:
        f.write(data + b"\n" * (before.st_size - len(data)))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == \
        (before.st_ino, before.st_size, before.st_mtime_ns)


def https_load(port: int, ca: TestCA, retry: bool = False) -> LoadInBackground:
    return LoadInBackground(f"https://{HOST}:{port}/", connections=4, duration=60,
                            cafile=str(ca.ca), server_name="shop.test", count_header=None,
                            retry_idempotent_once=retry)


def refresh_under_load(router, tls: TlsSettings, port: int, ca: TestCA, old: Leaf,
                       retry: bool = False):
    """Load through the router, the files renewed, refresh(): the new certificate served to
    new handshakes (waited for: a SIGHUP is taken asynchronously); the load's result."""
    with https_load(port, ca, retry) as load:
        load.wait_for_responses(100)
        new = renew_unseen(ca, old)
        load.wait_for_responses(load.progress()[0] + 100)
        assert presented_serial(port, "shop.test", ca.ca) == old.serial  # not by itself
        outcome = tls_refresh.refresh(router, tls)
        assert outcome.handed and outcome.refused == ()
        wait_until(lambda: presented_serial(port, "shop.test", ca.ca) == new.serial,
                   timeout=10, what="the renewed certificate served")
        load.wait_for_responses(load.progress()[0] + 100)
        result = load.stop()
    assert tls_refresh.refresh(router, tls).handed is False  # recorded: not sent again
    return result


@contextmanager
def serving(make, ca: TestCA, raw_backend):
    """A router make(tls, listen) gives, started with shop.test's certificate (`served`),
    routed to a backend and handed the files once (no record yet: harmless); stopped at
    the end. (router, tls, port, the certificate)."""
    old = served(ca)
    tls, port = TlsSettings(str(old.cert), str(old.key)), free_port()
    router = make(tls, f"{HOST}:{port}")
    try:
        router.ensure_running()
        router.apply(table_of(1, ("v1", 100, [raw_backend()])))
        assert tls_refresh.refresh(router, tls).handed
        yield router, tls, port, old
    finally:
        router.stop()


def embedded(folder: Path):
    from zerodown.routers.embedded import EmbeddedRouter
    return lambda tls, listen: EmbeddedRouter(folder, listen, service="shop",
                                              args=tls.proxy_args())


def test_the_embedded_proxy_takes_a_renewal_by_sighup_no_request_failing(tmp_path, ca,
                                                                         raw_backend):
    with serving(embedded(tmp_path / "proxy"), ca, raw_backend) as (router, tls, port, old):
        serving_pid = router.client.health()["pid"]
        result = refresh_under_load(router, tls, port, ca, old)
        assert result.failed() == 0, result.summary()
        assert router.client.health()["pid"] == serving_pid  # reloaded, not restarted
        assert "certificates reloaded" in Path(router.log_path).read_text()


@needs("haproxy")
def test_haproxy_takes_a_renewal_through_its_runtime_api_no_reload(tmp_path, ca,
                                                                   raw_backend):
    from zerodown.routers.haproxy import HAProxyRouter
    make = lambda tls, listen: HAProxyRouter(tmp_path / "haproxy", listen,  # noqa: E731
                                             service="shop", tls=tls)
    with serving(make, ca, raw_backend) as (router, tls, port, old):
        master = router.pid
        result = refresh_under_load(router, tls, port, ca, old)
        assert result.failed() == 0, result.summary()
        assert router.pid == master and "reload" not in Path(router.log_path).read_text()


@needs("nginx")
def test_nginx_takes_a_renewal_sent_to_its_copies_by_a_reload(tmp_path, ca, raw_backend):
    """As on router.host: nginx reads copies in a folder of its own (tls_on_host), sent there
    before its reload; a client retrying an idempotent request once loses nothing to the
    idle keep-alive connections a reload closes."""
    from zerodown.routers.common import tls_on_host
    from zerodown.routers.nginx import NginxRouter

    def make(tls, listen):
        copies, files = tls_on_host(tls, str(tmp_path / "there" / "tls"))
        return NginxRouter(tmp_path / "nginx", listen, service="shop", tls=copies, files=files)
    with serving(make, ca, raw_backend) as (router, tls, port, old):
        result = refresh_under_load(router, tls, port, ca, old, retry=True)
        assert result.failed() == 0, result.summary()
        assert Path(router.tls.cert).read_bytes() == old.cert.read_bytes()  # the copy


def test_a_broken_renewal_is_not_handed_over_and_the_old_certificate_serves(tmp_path, ca,
                                                                            raw_backend):
    with serving(embedded(tmp_path / "proxy"), ca, raw_backend) as (router, tls, port, old):
        wait_until(lambda: "certificates reloaded" in Path(router.log_path).read_text())
        write_unseen(old.key, ca.leaf("other.test").key.read_bytes())  # not the cert's key
        outcome = tls_refresh.refresh(router, tls)
        assert not outcome.handed and "does not load" in outcome.refused[0]
        assert outcome.refused[0].startswith(f"tls.cert: certificate '{old.cert}'")
        assert presented_serial(port, "shop.test", ca.ca) == old.serial
        # never told: told, it would have tried them and said "certificates not reloaded"
        assert "not reloaded" not in Path(router.log_path).read_text()
