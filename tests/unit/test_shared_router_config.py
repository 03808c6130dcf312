"""router: {kind: embedded, shared: NAME, hosts: [...], path_prefix: /}: the keys, the
refusal for HAProxy and nginx, and validate's check against the other zerodown.yaml files
already on the shared proxy (its saved services)."""

from __future__ import annotations

import json

import pytest

from zerodown.config import parse_config
from zerodown.errors import ConfigError
from zerodown.routers.embedded_options import parse_options, shared_dir

BASE = """\
service: {service}
listen: 127.0.0.1:8080
app:
  command: python app.py --port {{port}}
router: {router}
"""


def errors(text: str, file: str = "/srv/b/zerodown.yaml") -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(text, file=file)
    return [str(err) for err in e.value.errors]


@pytest.fixture
def shared_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZERODOWN_SHARED_DIR", str(tmp_path))
    return tmp_path


def register(home, proxy: str, service: str, hosts: list[str], prefix: str, config: str):
    folder = home / proxy / "proxy.services"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{service}.json").write_text(json.dumps(
        {"hosts": hosts, "path_prefix": prefix, "config": config,
         "table": {"version": 0, "revisions": []}}))


def test_the_keys_parse(shared_home):
    cfg = parse_config(BASE.format(service="shop", router="{kind: embedded, shared: edge, "
                                   "hosts: [Shop.Example.com, '*.shop.test'], path_prefix: /api}"))
    options = parse_options(cfg.router.options)
    assert (options.shared, options.hosts, options.path_prefix) == \
        ("edge", ("shop.example.com", "*.shop.test"), "/api")
    assert shared_dir("edge") == str(shared_home / "edge")


@pytest.mark.parametrize("router, problem", [
    ("{kind: embedded, hosts: [a.test]}", "router.hosts: routes this service on a proxy it "
                                          "shares: add router.shared"),
    ("{kind: embedded, shared: 'a b'}", "router.shared: must be a proxy name"),
    ("{kind: embedded, shared: edge, hosts: [a_b.test]}", "router.hosts: must be a list of host"),
    ("{kind: embedded, shared: edge, path_prefix: api}", "router.path_prefix: must be a path "
                                                        "starting with /"),
    ("{kind: nginx, shared: edge}", "router.shared: the nginx router serves one service per "
                                    "nginx: several zerodown.yaml files share only the embedded"),
    ("{kind: haproxy, shared: edge, hosts: [a.test]}", "router.hosts: the haproxy router serves "
                                                       "one service per haproxy"),
])
def test_bad_keys_are_named(shared_home, router, problem):
    found = errors(BASE.format(service="shop", router=router))
    assert any(problem in e for e in found), found


def test_a_host_and_prefix_another_file_holds_is_refused_naming_both(shared_home):
    register(shared_home, "edge", "shop", ["shop.example.com"], "/", "/srv/a/zerodown.yaml")
    found = errors(BASE.format(service="shop2", router="{kind: embedded, shared: edge, "
                               "hosts: [SHOP.example.com]}"))
    assert len(found) == 1 and "router.hosts" in found[0], found
    assert "/srv/a/zerodown.yaml" in found[0] and "/srv/b/zerodown.yaml" in found[0]
    # another prefix on the same host, another host, or another proxy: no conflict
    for router in ("{kind: embedded, shared: edge, hosts: [shop.example.com], path_prefix: /api}",
                   "{kind: embedded, shared: edge, hosts: [api.example.com]}",
                   "{kind: embedded, shared: other, hosts: [shop.example.com]}"):
        parse_config(BASE.format(service="shop2", router=router), file="/srv/b/zerodown.yaml")


def test_the_same_file_again_is_no_conflict_but_the_same_name_from_another_is(shared_home):
    register(shared_home, "edge", "shop", ["shop.example.com"], "/", "/srv/a/zerodown.yaml")
    text = BASE.format(service="shop", router="{kind: embedded, shared: edge, "
                       "hosts: [shop.example.com]}")
    parse_config(text, file="/srv/a/zerodown.yaml")
    found = errors(text, file="/srv/b/zerodown.yaml")
    assert any("service shop is already on shared proxy edge, registered by "
               "/srv/a/zerodown.yaml" in e for e in found), found


def test_another_listen_than_the_running_shared_proxy_is_refused(shared_home):
    (shared_home / "edge").mkdir()
    (shared_home / "edge" / "proxy.pid").write_text(json.dumps({"listen": "127.0.0.1:9999"}))
    found = errors(BASE.format(service="shop", router="{kind: embedded, shared: edge}"))
    assert any("listens on 127.0.0.1:9999" in e for e in found), found
