"""A renewal gone wrong (the certificate's key replaced by another's) while the service
runs: zerodown.yaml still loads (its files are checked where used, zerodown/config_files.py),
so a controller started afresh, `zerodown status` and `zerodown down` work and `down` stops
everything, while a deployment is refused naming the file and the controller's TLS watch
says it will not hand the pair over. The checks one by one: tests/unit/test_config_files.py."""

from __future__ import annotations

from contextlib import closing

import pytest

from tests.support.certs import TestCA
from tests.support.cli import Service, ours
from tests.support.net import wait_until
from zerodown.api.client import ApiFailure, Client
from zerodown.engine.store import Store


def test_status_and_down_work_with_the_running_service_s_certificate_broken(tmp_path):
    ca = TestCA(tmp_path / "certs")
    leaf = ca.leaf("shop.test", stem="shop")
    s = Service(tmp_path, "tls: {cert: certs/shop.pem, key: certs/shop.key, check_every: 1s}\n")
    try:
        assert "shop is up: r1 (v1) serves" in s.run("up").stdout
        leaf.key.write_bytes(ca.leaf("other.test").key.read_bytes())  # not its own key
        s.run("controller", "--stop")  # the next command starts one that loads the file anew

        status = s.status()
        assert {i["revision"] for i in status["instances"]} == {1}
        assert len(status["instances"]) == 2
        with closing(Store(str(s.state_dir / "zerodown.db"))) as store:
            wait_until(lambda: store.events("shop", kind="tls.refused"), timeout=20,
                       what="the watch's refusal")
            (refused,) = store.events("shop", kind="tls.refused")
        assert "tls.cert" in refused.message and "shop.pem" in refused.message

        denied = s.run("deploy", "v2", code=2).stderr
        assert "zerodown.yaml:12: tls.cert: certificate" in denied, denied
        assert "shop.pem" in denied and "does not load" in denied
        api = Client(socket_path=str(s.state_dir / "controller.sock"))
        with pytest.raises(ApiFailure) as e:  # as asked with --server: the controller checks
            api.post("/api/v1/deployments", {"version": "v2"})
        assert e.value.status == 400 and "tls.cert" in str(e.value) and "shop.pem" in str(e.value)

        down = s.run("down")
        assert down.stderr == "", down.stderr
        assert not ours(s.state_dir), "down left processes of the service"
    finally:
        left = s.cleanup()
    assert not left, f"processes left after the test: {left}"
