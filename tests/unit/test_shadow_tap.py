"""The hot path's tap (proxy/tap.py) and the framing of copies to the worker (shadow/outbox.py)."""

from zerodown.proxy.tap import Tap
from zerodown.shadow.outbox import frames, unframe

GET, POST = b"GET / HTTP/1.1\r\n\r\n", b"POST / HTTP/1.1\r\n\r\n"


def test_the_tap_copies_its_share_of_chosen_methods_and_drops_when_blocked_or_full():
    tap = Tap((b"GET ", b"HEAD "), 25.0, capacity=3)
    wanted = [tap.wants(GET) for _ in range(8)]
    assert wanted == [False, False, False, True] * 2  # a counter, not a coin
    assert not tap.wants(POST) and tap.dropped == 0

    woken = []
    tap.wake = lambda: woken.append(len(tap.pending))
    for _ in range(3):
        tap.offer(GET, b"", b"HTTP/1.1 200 OK\r\n\r\n")
    assert tap.offered == 3 and woken == [1]  # once per batch, not per copy
    assert [tap.wants(GET) for _ in range(4)] == [False] * 4 and tap.dropped == 1  # full

    tap.pending = []
    tap.blocked = True
    assert [tap.wants(GET) for _ in range(4)] == [False] * 4 and tap.dropped == 2


def test_copies_survive_framing_whatever_the_reads_cut():
    batch = [(b"GET /%d HTTP/1.1\r\n\r\n" % i, b"b" * i, b"HTTP/1.1 200 OK\r\n\r\n" + b"r" * i)
             for i in range(20)]
    data = frames(batch)
    got, buf = [], bytearray()
    for at in range(0, len(data), 7):  # 7-byte reads: frames cut anywhere
        buf += data[at:at + 7]
        copies, used = unframe(buf)
        del buf[:used]
        got += copies
    assert got == batch and not buf
