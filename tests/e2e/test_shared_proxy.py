"""Two zerodown.yaml files sharing one embedded proxy (issue 16.2 and 16.4): real CLI, real
proxy, real apps. One service is deployed (rolling) under load while the other is watched:
not one of the watched service's requests is touched, none fails, and an unknown host
gets 404 with its own counter. `down` of one leaves the other served."""

from __future__ import annotations

import pytest

from tests.support import get
from tests.support.cli import Service, ours
from zerodown.loadgen.background import LoadInBackground
from zerodown.proxy.client import AdminClient

CONNECTIONS = 4


def shared_service(root, name: str, hosts: str, shared_dir, port: int | None = None) -> Service:
    root.mkdir()
    s = Service(root)
    if port is not None:
        s.port = port
    s.env["ZERODOWN_SHARED_DIR"] = str(shared_dir)
    text = s.file.read_text().replace("service: shop", f"service: {name}")
    text = "\n".join(f"listen: 127.0.0.1:{s.port}" if line.startswith("listen:") else line
                     for line in text.splitlines()) + "\n"
    s.file.write_text(text + f"router: {{kind: embedded, shared: edge, hosts: [{hosts}]}}\n")
    return s


@pytest.fixture
def pair(tmp_path):
    shared = tmp_path / "proxies"
    shop = shared_service(tmp_path / "shop", "shop", "shop.test", shared)
    api = shared_service(tmp_path / "api", "api", "api.test, '*.api.test'", shared, shop.port)
    yield shop, api, shared / "edge"
    left = {**api.cleanup(), **shop.cleanup(), **ours(shared / "edge")}
    assert not left, f"processes left after the test: {left}"


def stats(edge, service: str) -> dict:
    return AdminClient(f"unix:{edge / 'proxy.sock'}", service=service).stats()


def test_deploying_one_service_never_touches_the_other(pair, tmp_path):
    shop, api, edge = pair
    up = shop.run("up").stdout
    assert "shop is up" in up
    # where it is reached names its Host: the listener alone gets the proxy's 404
    assert f"serves at http://shop.test:{shop.port}/ " in up, up
    assert shop.status()["url"] == f"http://shop.test:{shop.port}/"
    assert "api is up" in api.run("up", "--version", "a1").stdout
    assert get(shop.port, "/", headers={"Host": "shop.test"}).text == "hello from v1\n"
    assert get(shop.port, "/", headers={"Host": "eu.api.test"}).text == "hello from a1\n"
    assert "zerodown proxy ready" in api.run("logs", "proxy").stdout  # the shared proxy's log

    # a third file claiming shop.test is refused before it starts anything, naming both files
    third = shared_service(tmp_path / "third", "third", "shop.test", edge.parent, shop.port)
    err = third.run("validate", code=None)
    assert err.returncode != 0
    assert str(shop.file) in err.stdout + err.stderr and str(third.file) in err.stdout + err.stderr

    api_pids, api_before = api.pids(), stats(edge, "api")
    url = f"http://127.0.0.1:{shop.port}/"
    with LoadInBackground(url, connections=CONNECTIONS, duration=90,
                          headers={"Host": "api.test"}) as watched, \
            LoadInBackground(url, connections=CONNECTIONS, duration=90,
                             headers={"Host": "shop.test"}) as deployed, \
            LoadInBackground(url, connections=1, duration=90,
                             headers={"Host": "nope.test"}) as strays:
        watched.wait_for_responses(200)
        deployed.wait_for_responses(200)
        strays.wait_for_responses(20)
        out = shop.run("deploy", "v2").stdout
        watched.wait_for_responses(watched.progress()[0] + 200)
        deployed.wait_for_responses(deployed.progress()[0] + 200)
        seen, shop_seen, stray = watched.stop(), deployed.stop(), strays.stop()
    assert "succeeded" in out, out
    # requests for a host nobody serves are 404s, none of them a failure of shop's deployment
    assert set(stray.statuses) == {404} and stray.statuses[404] >= 20
    assert ", 0 failed by it" in out, out
    assert shop_seen.failed() == 0, shop_seen.summary()
    assert set(shop_seen.by_header["X-Version"]) == {"v1", "v2"}
    # the watched service: every answer from its own stable instances, none failed
    assert seen.failed() == 0, seen.summary()
    assert set(seen.by_header["X-Version"]) == {"a1"}, seen.by_header
    assert api.pids() == api_pids
    api_after = stats(edge, "api")
    assert api_after["version"] == api_before["version"]  # no table change reached it
    assert set(api_after["revisions"]) == set(api_before["revisions"])
    assert set(api_after["backends"]) == set(api_before["backends"])
    assert api_after["unrouted"] == api_before["unrouted"] == 0
    answered = sum(r["requests"] for r in api_after["revisions"].values()) - \
        sum(r["requests"] for r in api_before["revisions"].values())
    assert seen.ok <= answered <= seen.ok + CONNECTIONS  # its own load, nothing of shop's
    assert all(r["errors"] == 0 for r in api_after["revisions"].values())

    # an unknown host: 404 from the proxy, counted apart
    assert get(shop.port, "/", headers={"Host": "nope.test"}).status == 404
    assert stats(edge, "shop")["unknown_host"] >= 1 and stats(edge, "shop")["unrouted"] == 0

    # down of one service removes only its routes; the proxy stays for the other
    api.run("down")
    assert get(shop.port, "/", headers={"Host": "api.test"}).status == 404
    assert get(shop.port, "/", headers={"Host": "shop.test"}).text == "hello from v2\n"
    assert ours(edge), "the shared proxy stopped while shop still uses it"
    shop.run("down")
    assert not ours(edge), "the shared proxy outlived its last service"
