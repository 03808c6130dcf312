"""A certificate renewed into the same files (as certbot does) reaches a running HAProxy
with no deployment: by the controller's TLS watch (zerodown/daemon/tls_watch.py, every
tls.check_every) and by `zerodown up`. HAProxy never looks at the files itself, so what
it serves after is what the controller handed it. The routers one by one, under load:
tests/component/test_tls_refresh_routers.py."""

from __future__ import annotations

from contextlib import closing

import pytest

from tests.component.test_proxy_tls import presented_serial
from tests.support.certs import TestCA
from tests.support.cli import Service
from tests.support.installed import needs
from tests.support.net import wait_until
from zerodown.engine.store import Store


@pytest.fixture
def tls_service(tmp_path):
    made = []

    def make(check_every: str) -> tuple[Service, TestCA]:
        ca = TestCA(tmp_path / "certs")
        ca.leaf("shop.test", stem="shop")
        s = Service(tmp_path, "router: {kind: haproxy}\ntls: {cert: certs/shop.pem, "
                              f"key: certs/shop.key, check_every: {check_every}}}\n")
        made.append(s)
        out = s.run("up").stdout
        assert "shop is up" in out and "handed" not in out  # its first look says nothing
        return s, ca
    yield make
    for s in made:
        left = s.cleanup()
        assert not left, f"processes left after the test: {left}"


def log(s: Service) -> str:
    return (s.state_dir / "controller.log").read_text()


@needs("haproxy")
def test_the_controller_hands_a_renewal_to_haproxy_and_refuses_a_broken_one(tls_service):
    s, ca = tls_service("1s")
    old = ca.leaf("shop.test", stem="shop")  # renewed after the up
    wait_until(lambda: presented_serial(s.port, "shop.test", ca.ca) == old.serial,
               timeout=20, what="the renewal served")
    wait_until(lambda: "tls: renewed certificates handed to the load balancer" in log(s))
    (ca.dir / "shop.key").write_bytes(ca.leaf("other.test").key.read_bytes())  # not its own
    wait_until(lambda: "tls: not handed over" in log(s), timeout=20, what="the refusal")
    line = next(l for l in log(s).splitlines() if "tls: not handed over" in l)
    assert "tls.cert" in line and "does not load" in line and "shop.pem" in line
    assert presented_serial(s.port, "shop.test", ca.ca) == old.serial  # the old one stays
    with closing(Store(str(s.state_dir / "zerodown.db"))) as store:
        assert len(store.events("shop", kind="tls.renewed")) == 1
        (refused,) = store.events("shop", kind="tls.refused")  # said once, not each second
    assert "shop.pem" in refused.message and "the certificates in force stay" in refused.message
    # left broken: the fixture's `down` works all the same (tests/e2e/test_tls_broken_files.py)


@needs("haproxy")
def test_zerodown_up_on_a_running_service_hands_the_renewal_at_once(tls_service):
    s, ca = tls_service("12h")
    s.run("controller", "--stop")  # its look would race `up`'s (`up` starts it after its own)
    new = ca.leaf("shop.test", stem="shop")
    assert presented_serial(s.port, "shop.test", ca.ca) != new.serial
    out = s.run("up").stdout
    assert "renewed certificate files handed to the running load balancer" in out
    assert presented_serial(s.port, "shop.test", ca.ca) == new.serial
    assert "certificate files handed" not in s.run("up").stdout  # recorded: once
