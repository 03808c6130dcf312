"""A background stop's thread writes its row stopped only while the run that sent it goes
on (engine/stopping.py confirm_beside), and the run's end (end_beside) and that write
take turns: a thread that read the run as going on just as it ended by an exception wrote
through the store after the run's caller had closed it. Here the interleavings are forced
with events on a store that records what came after its close."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from tests.support.net import wait_until
from zerodown.engine import stopping
from zerodown.model import Instance, InstanceRef, Slot

BOUND = 10.0  # seconds any one wait of the test takes at most
REF = InstanceRef(1, Slot(0))
INSTANCE = Instance("shop", 1, Slot(0), "127.0.0.1:1")


class ClosingStore:
    """Each write waits until the test lets it go, and says if it came after close()."""

    def __init__(self, held: bool):
        self.writing, self.go = threading.Event(), threading.Event()
        if not held:
            self.go.set()
        self.closed = False
        self.written: list[list] = []
        self.after_close: list[list] = []

    def set_instances(self, service, changes, durable=True):
        self.writing.set()
        assert self.go.wait(BOUND)
        (self.after_close if self.closed else self.written).append(list(changes))

    def close(self):
        self.closed = True


class SeenLock:
    """A lock that says which threads asked for it (so the test knows the run's end is
    waiting, not guessing by a sleep)."""

    def __init__(self):
        self._lock, self.asked = threading.Lock(), set()

    def __enter__(self):
        self.asked.add(threading.current_thread().name)
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)


class HeldStop:
    """A stop that returns once the test lets it."""

    def __init__(self):
        self.sent, self.go = threading.Event(), threading.Event()

    def stop(self, instance, grace):
        self.sent.set()
        assert self.go.wait(BOUND)


def engine(store: ClosingStore) -> SimpleNamespace:
    return SimpleNamespace(store=store, runtime=HeldStop(), service="shop", _stopping={},
                           _stopped=set(), confirming_beside=True, _beside=SeenLock(),
                           _refused=None)


def test_the_runs_end_waits_for_a_write_in_flight_before_its_store_is_closed(monkeypatch):
    escaped: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    store = ClosingStore(held=True)
    e = engine(store)
    e.runtime.go.set()
    stop = threading.Thread(target=stopping.stop_quietly, args=(e, REF, INSTANCE, 1.0))
    stop.start()
    assert store.writing.wait(BOUND), "the stop's thread did not write its row"

    def run_ends():  # as Engine.run's finally, then its caller closing the store
        stopping.end_beside(e)
        store.close()

    end = threading.Thread(target=run_ends, name="the run's end")
    end.start()
    wait_until(lambda: "the run's end" in e._beside.asked or not end.is_alive(),
               timeout=BOUND, what="the run's end reaching the stops' writes")
    store.go.set()  # the write in flight finishes
    stop.join(BOUND)
    end.join(BOUND)
    assert not stop.is_alive() and not end.is_alive()
    assert store.after_close == [], "a stop's row written through a closed store"
    assert [[c.ref for c in w] for w in store.written] == [[REF]]
    assert e.confirming_beside is False and e._stopped == set() and escaped == []


def test_a_stop_returned_after_the_runs_end_leaves_its_row_to_the_await(monkeypatch):
    escaped: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    store = ClosingStore(held=False)
    e = engine(store)
    stop = threading.Thread(target=stopping.stop_quietly, args=(e, REF, INSTANCE, 1.0))
    stop.start()
    assert e.runtime.sent.wait(BOUND), "the stop was not sent"
    stopping.end_beside(e)  # the run ended (an exception) while the stop was in flight
    store.close()
    e.runtime.go.set()
    stop.join(BOUND)
    assert not stop.is_alive()
    assert store.written == [] and store.after_close == [] and not store.writing.is_set()
    assert e._stopped == {REF}, "the returned stop not kept for the run's await"
    assert escaped == []
