"""A route step's apply hands HAProxy a renewed certificate copy only when every pair
loads (the TLS watcher's check, tls_refresh.read_pairs): a renewal gone wrong mid-way
through a deployment leaves the copies in force, instead of a refused `commit ssl cert`
failing the route step (and the rollback's)."""

from __future__ import annotations

import dataclasses

from tests.support.certs import TestCA
from zerodown.routers import haproxy_files
from zerodown.routers.haproxy_state import State, digest
from zerodown.tls_config import TlsSettings


def settings(tls):
    return dataclasses.make_dataclass("S", [("tls", object)])(tls)


def test_a_renewed_copy_is_held_back_while_a_pair_does_not_load(tmp_path):
    ca = TestCA(tmp_path / "certs")
    shop, other = ca.leaf("shop.test", stem="shop"), ca.leaf("other.test", stem="other")
    tls = TlsSettings(str(shop.cert), str(shop.key))
    files = {"tls-0.pem": "renewed\n", "haproxy.cfg": "cfg\n"}
    state = State(written={"tls-0.pem": digest("in force\n")})
    assert haproxy_files.held_back(files, settings(tls), state) == files   # sound: handed
    shop.key.write_bytes(other.key.read_bytes())                       # the key of another
    assert haproxy_files.held_back(files, settings(tls), state) == {"haproxy.cfg": "cfg\n"}
    assert haproxy_files.held_back(files, settings(tls), State()) == files  # none in force
    unchanged = State(written={"tls-0.pem": digest("renewed\n")})
    assert haproxy_files.held_back(files, settings(tls), unchanged) == files  # not renewed
