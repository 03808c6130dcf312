"""zerodown.yaml's `tls:` section: parsed, paths placed beside the file, every key and
name checked with an error at its key (certificates made by openssl). What the files
hold is checked where they are used: tests/unit/test_config_files.py."""

from __future__ import annotations

import pytest

from tests.support.certs import TestCA
from zerodown.config import parse_config
from zerodown.errors import ConfigError

BASE = "service: shop\nlisten: 127.0.0.1:8443\napp: {command: \"python app.py --port {port}\"}\n"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("certs"))
    ca.shop, ca.api = ca.leaf("shop.test"), ca.leaf("api.test")
    return ca


def parse(tmp_path, tls: str):
    path = tmp_path / "zerodown.yaml"
    path.write_text(BASE + tls)
    return parse_config(path.read_text(), file=str(path))


def test_a_tls_section_parses_with_paths_beside_the_file_and_becomes_proxy_flags(tmp_path, ca):
    (tmp_path / "certs").symlink_to(ca.dir)
    cfg = parse(tmp_path, f"""tls:
  cert: certs/{ca.shop.cert.name}
  key: {ca.shop.key}
  certificates:
    - names: [API.test, "*.api.test"]
      cert: {ca.api.cert}
      key: {ca.api.key}
  redirect_http: 127.0.0.1:8080
""")
    tls = cfg.tls
    assert tls.cert == str(tmp_path / "certs" / ca.shop.cert.name)
    assert tls.certificates[0].names == ("api.test", "*.api.test")
    assert tls.proxy_args() == ["--tls-cert", tls.cert, "--tls-key", str(ca.shop.key),
                                "--tls-sni", f"api.test,*.api.test={ca.api.cert},{ca.api.key}",
                                "--redirect-http", "127.0.0.1:8080"]
    assert parse(tmp_path, "").tls is None


@pytest.mark.parametrize("tls, key, says", [
    ("tls: {cert: SHOP}", "tls.key", "is required"),
    ("tls: {cert: SHOP, key: SHOPKEY, certificates: [{names: [bad_name!], cert: SHOP, "
     "key: SHOPKEY}]}", "tls.certificates[0].names", "is not a host name"),
    ("tls: {cert: SHOP, key: SHOPKEY, certificates: [{names: [], cert: SHOP, key: SHOPKEY}]}",
     "tls.certificates[0].names", "must be a list of host names"),
    ("tls: {cert: SHOP, key: SHOPKEY, redirect_http: 80}", "tls.redirect_http", "host:port"),
    ("tls: {cert: SHOP, key: SHOPKEY, redirct_http: 1.2.3.4:80}", "tls.redirct_http",
     "unknown key"),
])
def test_bad_tls_settings_are_named_at_their_key(tmp_path, ca, tls, key, says):
    tls = (tls.replace("SHOPKEY", str(ca.shop.key))
           .replace("SHOP", str(ca.shop.cert)))
    with pytest.raises(ConfigError) as e:
        parse(tmp_path, tls + "\n")
    assert e.value.key == key, str(e.value)
    assert says.lower() in str(e.value).lower()


def test_an_attached_haproxy_refuses_the_section(tmp_path, ca):
    with pytest.raises(ConfigError) as e:
        parse(tmp_path, "router: {kind: haproxy, socket: /run/h.sock, backend: app}\n"
                        f"tls: {{cert: {ca.shop.cert}, key: {ca.shop.key}}}\n")
    assert e.value.key == "tls" and "attached HAProxy" in str(e.value)


def test_http2_is_off_unless_asked_and_becomes_the_proxy_flag(tmp_path, ca):
    base = f"tls: {{cert: {ca.shop.cert}, key: {ca.shop.key}"
    off = parse(tmp_path, base + "}\n").tls
    assert off.http2 is False and "--http2" not in off.proxy_args()
    assert off.proxy_config().alpn() == ["http/1.1"]
    on = parse(tmp_path, base + ", http2: true}\n").tls
    assert on.http2 is True and on.proxy_args()[-1] == "--http2"
    assert on.proxy_config().alpn() == ["h2", "http/1.1"]
    with pytest.raises(ConfigError) as e:
        parse(tmp_path, base + ", http2: yes please}\n")
    assert e.value.key == "tls.http2" and "true or false" in str(e.value)


def test_h2c_is_an_embedded_router_option(tmp_path):
    from zerodown.routers import router_for
    cfg = parse(tmp_path, "router: {kind: embedded, http2_prior_knowledge: true}\n")
    assert "--http2-prior-knowledge" in router_for(cfg, tmp_path).args
    assert "--http2-prior-knowledge" not in router_for(parse(tmp_path, ""), tmp_path).args
    with pytest.raises(ConfigError) as e:
        router_for(parse(tmp_path, "router: {kind: embedded, http2_prior_knowledge: 1}\n"),
                   tmp_path)
    assert e.value.key == "router.http2_prior_knowledge"
