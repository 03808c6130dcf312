"""Backend connections the proxy closes itself — a drain that gives up, a service
removed — with a request still waiting on them for its first byte: a safe
request (never sent, or idempotent and kept whole) moves to another backend, as
after a response timeout or an ejection; an unsafe one gets an error and is
never sent twice.

A loopback backend that accepts and never answers stands in for a host cut off
without a reset: only the proxy's own close ends those connections.
"""

from __future__ import annotations

import time

import pytest

from tests.component.test_proxy_silent_backend import never_answer
from tests.support.net import wait_until
from tests.support.proxy import ProxyProcess, table_of
from zerodown.proxy.client import AdminClient

DRAIN_TIMEOUT = 1.0


@pytest.fixture
def edge(tmp_path):
    # the default response timeout (60 s): only the drain's give-up ends the wait
    proxy = ProxyProcess(tmp_path, extra=["--drain-timeout", str(DRAIN_TIMEOUT)])
    proxy.start()
    yield proxy
    proxy.cleanup()


def sent_to(backend, marker: bytes) -> int:
    return backend.received().count(marker)


def wait_sent(backend, marker: bytes) -> None:
    wait_until(lambda: sent_to(backend, marker) > 0, timeout=5, what=f"{marker!r} at the backend")


def waiting_on(edge, silent, client, request: bytes):
    """A client whose `request` the silent backend, alone in the table, has received."""
    edge.apply(table_of(1, ("v1", 100, [silent])))
    c = client(edge.port)
    c.send(request)
    wait_sent(silent, request.split(b" HTTP/")[0])
    return c


def test_a_get_waiting_when_the_drain_gives_up_gets_the_other_backends_200(
        edge, raw_backend, client):
    good, silent = raw_backend(), raw_backend(never_answer)
    c = waiting_on(edge, silent, client, b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
    edge.apply(table_of(2, ("v1", 100, [good])))  # silent leaves the table and drains
    started = time.monotonic()
    resp = c.read_response()
    assert resp.status == 200, resp.raw_head
    assert b"GET /wait" in resp.body  # the good backend's echo of the request
    assert time.monotonic() - started < DRAIN_TIMEOUT + 3
    assert sent_to(good, b"GET /wait") == 1
    v1 = edge.stats()["revisions"]["v1"]
    assert (v1["retries"], v1["saved"], v1["errors"]) == (1, 1, 0)


def test_a_get_cut_by_the_drain_goes_to_the_table_in_force_not_to_stopped_neighbours(
        edge, raw_backend, client):
    """A rolling deployment on three hosts, one cut off: the GET waits on the silent
    instance; meanwhile its revision was replaced and its other instances drained and
    stopped. The rescue goes where the table in force says, not to the stopped
    neighbours the request's old revision listed (their refusals spent its attempts: 502)."""
    neighbours, silent, good = [raw_backend(), raw_backend()], raw_backend(never_answer), raw_backend()
    edge.apply(table_of(1, ("v1", 100, [*neighbours, silent])))
    c = client(edge.port)
    for _ in range(3):  # round-robin: one of three requests goes to the silent one
        c.send(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until(lambda: sum(sent_to(b, b"GET /first") for b in [*neighbours, silent]) > 0,
                   timeout=5, what="the GET at a backend")
        if sent_to(silent, b"GET /first"):
            break
        assert c.read_response().status == 200
        for b in neighbours:
            b.records.clear()
    wait_sent(silent, b"GET /first")
    edge.apply(table_of(2, ("v2", 100, [good])))
    for b in neighbours:
        wait_until(lambda: f"v1-{b.port}" not in edge.stats()["backends"], timeout=5,
                   what="the neighbour drained")
        b.close()  # stopped once drained: connections to it are refused
    resp = c.read_response()
    assert resp.status == 200, resp.raw_head
    assert sent_to(good, b"GET /first") == 1
    assert edge.stats()["revisions"]["v2"]["saved"] == 1


def test_a_post_waiting_when_the_drain_gives_up_gets_an_error_and_is_not_sent_again(
        edge, raw_backend, client):
    good, silent = raw_backend(), raw_backend(never_answer)
    c = waiting_on(edge, silent, client,
                   b"POST /order HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    edge.apply(table_of(2, ("v1", 100, [good])))
    resp = c.read_response()
    assert resp.status == 504, resp.raw_head
    assert sent_to(silent, b"POST /order") == 1
    assert sent_to(good, b"POST /order") == 0


def test_a_get_waiting_on_a_removed_services_backend_gets_504_at_its_drain(
        edge, raw_backend, client):
    """A service leaving the proxy: its backends drain as if taken out of its table;
    with nowhere else to go the waiting GET is answered when the drain gives up (504),
    not left hanging for the response timeout, nor answered as if the backend had
    closed the connection."""
    silent = raw_backend(never_answer)
    shop = AdminClient(edge.admin_spec, timeout=5, service="shop")
    shop.register(["shop.test"])
    shop.apply(table_of(1, ("s1", 100, [silent])))
    c = client(edge.port)
    c.send(b"GET /wait HTTP/1.1\r\nHost: shop.test\r\n\r\n")
    wait_sent(silent, b"GET /wait")
    started = time.monotonic()
    shop.unregister()
    resp = c.read_response()
    assert resp.status == 504, resp.raw_head
    assert resp.body == b"backend did not respond before its drain timeout\n"
    assert time.monotonic() - started < DRAIN_TIMEOUT + 3
