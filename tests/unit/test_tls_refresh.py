"""When a renewed certificate is handed to the load balancer (zerodown/tls_refresh.py): the
pure decision as a table, the pairs read from real files (openssl makes them), the record
that makes a restarted controller neither re-send nor miss a change, and the daemon's
watch (zerodown/daemon/tls_watch.py) on a router that counts what it is told. The real
routers taking them: tests/component/test_tls_refresh_routers.py."""

from __future__ import annotations

import pytest

from tests.support.certs import TestCA
from tests.unit.test_tls_config import parse
from zerodown import tls_refresh
from zerodown.daemon.tls_watch import TlsWatch
from zerodown.errors import ConfigError
from zerodown.tls_config import NamedCert, TlsSettings
from zerodown.tls_refresh import Pair, decide, read_pairs

A = Pair("tls.cert", "a.pem", "a.key", digest="1")
A2 = Pair("tls.cert", "a.pem", "a.key", digest="2")
B = Pair("tls.certificates[0].cert", "b.pem", "b.key", digest="3")
BAD = Pair("tls.certificates[0].cert", "b.pem", "b.key", problem="certificate 'b.pem' with "
           "key 'b.key' does not load (KEY_VALUES_MISMATCH)")


@pytest.mark.parametrize("pairs, handed, due, record", [
    ([A], {}, True, {"a.pem a.key": "1"}),                      # never handed (no record)
    ([A], {"a.pem a.key": "1"}, False, {"a.pem a.key": "1"}),   # as handed: nothing to do
    ([A2], {"a.pem a.key": "1"}, True, {"a.pem a.key": "2"}),   # renewed
    ([A, B], {"a.pem a.key": "1"}, True, {"a.pem a.key": "1", "b.pem b.key": "3"}),
    ([A], {"a.pem a.key": "1", "b.pem b.key": "3"}, True, {"a.pem a.key": "1"}),  # one gone
    ([], {}, False, {}),                                        # no tls
])
def test_due_when_the_contents_differ_from_what_was_handed(pairs, handed, due, record):
    decision = decide(pairs, handed)
    assert (decision.due, decision.record, decision.refused) == (due, record, ())


def test_a_broken_pair_holds_back_every_pair_and_is_named_with_why():
    decision = decide([A2, BAD], {"a.pem a.key": "1"})
    assert decision.due is False and decision.record == {"a.pem a.key": "1"}
    (line,) = decision.refused
    assert line.startswith("tls.certificates[0].cert: certificate 'b.pem'")
    assert "KEY_VALUES_MISMATCH" in line and "the certificates in force stay" in line


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "certs")


def test_pairs_read_from_files_say_what_is_wrong_with_each(ca):
    shop, api = ca.leaf("shop.test", stem="shop"), ca.leaf("api.test", stem="api")
    tls = TlsSettings(str(shop.cert), str(shop.key),
                      (NamedCert(("api.test",), str(api.cert), str(shop.key)),
                       NamedCert(("x.test",), str(api.cert) + ".gone", str(api.key))))
    good, mismatched, missing = read_pairs(tls)
    assert good.digest and good.problem is None and good.where == "tls.cert"
    assert mismatched.where == "tls.certificates[0].cert" and mismatched.digest is None
    assert "does not load" in mismatched.problem and str(api.cert) in mismatched.problem
    assert "cannot read" in missing.problem and ".gone" in missing.problem
    assert read_pairs(None) == ()
    renewed = read_pairs(TlsSettings(str(ca.leaf("shop.test", stem="shop").cert),
                                     str(shop.key)))[0]
    assert renewed.digest != good.digest and renewed.problem is None


class Taking:
    """A router that counts refresh_tls() calls; `running` says whether one takes them."""

    def __init__(self, folder, running: bool = True):
        self.local_dir, self.running, self.calls = folder, running, 0

    def refresh_tls(self) -> bool:
        self.calls += 1
        return self.running


def test_the_record_keeps_a_restarted_controller_from_sending_again_or_missing_a_change(
        tmp_path, ca):
    leaf = ca.leaf("shop.test", stem="shop")
    tls, router = TlsSettings(str(leaf.cert), str(leaf.key)), Taking(tmp_path)
    first = tls_refresh.refresh(router, tls)
    assert first.handed and first.first and router.calls == 1
    assert not tls_refresh.refresh(Taking(tmp_path), tls).handed  # as a new controller would
    assert not tls_refresh.refresh(router, tls).handed and router.calls == 1
    leaf.cert.touch()  # a touch is no renewal
    assert not tls_refresh.refresh(router, tls).handed and router.calls == 1
    ca.leaf("shop.test", stem="shop")  # renewed while no controller ran
    later = Taking(tmp_path)
    renewal = tls_refresh.refresh(later, tls)
    assert renewal.handed and not renewal.first and later.calls == 1
    assert tls_refresh.refresh(router, tls, force=True).handed and router.calls == 2
    assert tls_refresh.refresh(router, None).handed is False and router.calls == 2


def test_a_broken_renewal_is_never_handed_over_and_the_fixed_one_is(tmp_path, ca):
    leaf = ca.leaf("shop.test", stem="shop")
    tls, router = TlsSettings(str(leaf.cert), str(leaf.key)), Taking(tmp_path)
    tls_refresh.refresh(router, tls)
    other = ca.leaf("other.test")
    leaf.key.write_bytes(other.key.read_bytes())  # half a renewal: a key that is not its own
    outcome = tls_refresh.refresh(router, tls)
    assert not outcome.handed and router.calls == 1
    assert "tls.cert" in outcome.refused[0] and "does not load" in outcome.refused[0]
    ca.leaf("shop.test", stem="shop")
    assert tls_refresh.refresh(router, tls).handed and router.calls == 2


def test_nothing_running_to_take_them_is_recorded_its_start_reads_them(tmp_path, ca):
    leaf = ca.leaf("shop.test", stem="shop")
    tls, stopped = TlsSettings(str(leaf.cert), str(leaf.key)), Taking(tmp_path, running=False)
    assert tls_refresh.refresh(stopped, tls).handed is False and stopped.calls == 1
    assert tls_refresh.refresh(stopped, tls).handed is False and stopped.calls == 1


def test_check_every_is_a_duration_named_at_its_key(tmp_path, ca):
    leaf = ca.leaf("a.test")
    base = f"tls: {{cert: {leaf.cert}, key: {leaf.key}"
    assert parse(tmp_path, base + "}\n").tls.check_every == 30.0
    assert parse(tmp_path, base + ", check_every: 5m}\n").tls.check_every == 300.0
    for bad, says in (("0.5", "at least 1s"), ("13h", "at most 12h"), ("often", "duration")):
        with pytest.raises(ConfigError) as e:
            parse(tmp_path, base + f", check_every: {bad}}}\n")
        assert e.value.key == "tls.check_every" and says in str(e.value), str(e.value)


class Store:
    def __init__(self):
        self.said: list[tuple[str, str]] = []

    def event(self, service, kind, message, *args, **kw):
        self.said.append((kind, message))


class Ctl:
    def __init__(self, tls, router):
        self.tls, self.router_ = tls, router

    def working_config(self):
        return type("Cfg", (), {"tls": self.tls})()

    def router(self, cfg):
        return self.router_

    def close(self):
        pass


def test_the_watch_looks_every_check_every_says_a_refusal_once_and_a_handover(tmp_path, ca):
    leaf = ca.leaf("shop.test", stem="shop")
    tls = TlsSettings(str(leaf.cert), str(leaf.key), check_every=30.0)
    router, store, now = Taking(tmp_path), Store(), [100.0]
    watch = TlsWatch(lambda: Ctl(tls, router), "shop", lambda text: None, lambda: now[0])
    watch.check(store)  # the first look at once: handed (no record), nothing to say
    assert router.calls == 1 and store.said == []
    ca.leaf("shop.test", stem="shop")
    now[0] += 29
    watch.check(store)
    assert router.calls == 1  # not due yet
    now[0] += 1
    watch.check(store)
    assert router.calls == 2 and [k for k, _ in store.said] == ["tls.renewed"]
    leaf.key.write_bytes(ca.leaf("other.test").key.read_bytes())
    for _ in range(3):
        now[0] += 30
        watch.check(store)
    assert router.calls == 2
    refused = [m for k, m in store.said if k == "tls.refused"]
    assert len(refused) == 1 and str(leaf.cert) in refused[0], store.said


def test_a_zerodown_yaml_naming_a_broken_pair_loads_and_the_watch_refuses_the_pair(tmp_path, ca):
    """Loading zerodown.yaml reads not its certificate files (config_files.py): the watch
    gets the config and its own check (tls_refresh) refuses the pair, naming key and file."""
    leaf = ca.leaf("shop.test", stem="shop")
    leaf.key.write_bytes(ca.leaf("other.test").key.read_bytes())  # a renewal gone wrong
    cfg = parse(tmp_path, f"tls: {{cert: {leaf.cert}, key: {leaf.key}}}\n")

    class Loaded(Ctl):
        def working_config(self):
            return cfg
    store, now, router = Store(), [0.0], Taking(tmp_path)
    watch = TlsWatch(lambda: Loaded(cfg.tls, router), "shop", lambda text: None,
                     lambda: now[0])
    for _ in range(3):
        watch.check(store)
        now[0] += 60
    (said,) = store.said
    assert said[0] == "tls.refused" and f"tls.cert: certificate {str(leaf.cert)!r}" in said[1]
    assert "does not load" in said[1] and router.calls == 0
