"""Shadow traffic through nginx (routers/nginx.py shadow(), shadow/comparator.py): nginx's
mirror sends copies to zerodown's comparator, which replays them to stable and to the shadow
and compares; users only ever get stable's answers."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.support.net import free_port
from tests.support.procs import start_app
from zerodown.errors import RouterError
from zerodown.loadgen import run_load_sync
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.routers.nginx import NginxRouter

if shutil.which("nginx") is None and os.environ.get("CI") != "true":
    pytest.skip("nginx is not installed (bash scripts/setup.sh installs it); never skipped "
                "under CI", allow_module_level=True)


@pytest.fixture
def apps():
    started = {"v1": start_app("v1"), "same": start_app("v1"), "v2": start_app("v2")}
    yield {k: f"127.0.0.1:{a.port}" for k, a in started.items()}
    for a in started.values():
        a.cleanup()


@pytest.fixture
def nginx(tmp_path):
    router = NginxRouter(tmp_path / "nginx", f"127.0.0.1:{free_port()}", service="shop")
    router.ensure_running()
    yield router
    router.shadow(None)
    router.stop()


def settled(router: NginxRouter, copies: int, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = router.shadow_stats()
        if stats["compared"] + stats["failed"] + stats["timed_out"] + stats["dropped"] >= copies:
            return stats
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)


def test_differing_answers_are_counted_and_users_only_get_stable(nginx, apps, tmp_path):
    nginx.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("shop-r1", apps["v1"]),)),)))
    assert nginx.shadow_stats() is None

    stats = nginx.shadow({"address": apps["same"], "ignore": ["$.pid"]})
    assert stats["address"] == apps["same"] and stats["stable"] == apps["v1"]
    result = run_load_sync(nginx.url + "/version", connections=4, requests=200)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    stats = settled(nginx, 200)
    assert (stats["compared"], stats["differing"]) == (200, 0), stats

    stats = nginx.shadow({"address": apps["v2"], "ignore": ["$.pid"]})  # replaces the first
    result = run_load_sync(nginx.url + "/version", connections=4, requests=200)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    run_load_sync(nginx.url + "/echo", connections=1, requests=20, method="POST", body=b"x")
    stats = settled(nginx, 200)
    assert stats["differing"] == stats["compared"] == 200, stats  # POSTs never copied
    assert stats["examples"][0]["where"] == "$.version"
    assert stats["examples"][0]["request"].startswith("GET /version")

    last = nginx.shadow(None)
    assert last["compared"] == 200 and nginx.shadow_stats() is None
    assert "mirror" not in (tmp_path / "nginx" / "nginx.conf").read_text()
    result = run_load_sync(nginx.url + "/version", connections=2, requests=50)
    assert result.failed() == 0


def test_a_shadow_needs_stable_and_good_settings(nginx, apps):
    with pytest.raises(RouterError, match="no revision serves users"):
        nginx.shadow({"address": apps["v2"]})
    nginx.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("shop-r1", apps["v1"]),)),)))
    with pytest.raises(RouterError, match="percent"):
        nginx.shadow({"address": apps["v2"], "percent": 0})
    assert nginx.shadow_stats() is None
