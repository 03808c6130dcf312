"""Passive health: ejection backs off, is capped, and never overflows."""

from zerodown.proxy.settings import ProxySettings
from zerodown.proxy.upstream import BackendPool, RevisionTarget


class FrozenLoop:
    def __init__(self, now=100.0):
        self.now = now

    def time(self):
        return self.now


def pool(name="a", loop=None):
    return BackendPool(name, "r1", "127.0.0.1:9", loop or FrozenLoop(), ProxySettings())


def test_ejection_doubles_and_is_capped_without_overflow():
    p = pool()
    spans = []
    for _ in range(3000):  # thousands of failures in a row must not raise
        p.failed()
        spans.append(p.ejected_until - 100.0)
    assert spans[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert max(spans) == ProxySettings().eject_max


def test_choose_skips_ejected_and_returns_none_when_all_are():
    loop = FrozenLoop()
    a, b = pool("a", loop), pool("b", loop)
    target = RevisionTarget("r1", [(a, 1), (b, 1)])
    a.failed()
    assert {target.choose(loop.now) for _ in range(4)} == {b}
    b.failed()
    assert target.choose(loop.now) is None
    assert target.choose_excluding(loop.now, ()) is a  # back soonest
    loop.now += 1.5
    assert target.choose(loop.now) is a


def test_weights_shape_round_robin():
    loop = FrozenLoop()
    a, b = pool("a", loop), pool("b", loop)
    target = RevisionTarget("r1", [(a, 3), (b, 1)])
    picks = [target.choose(loop.now).id for _ in range(400)]
    assert picks.count("a") == 300 and picks.count("b") == 100
