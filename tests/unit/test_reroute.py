"""A request queued on a backend that leaves the table goes where the table in force
says (ClientConn.reroute): its revision's backends there, and when every one of them
is ejected, another revision's — as a new request would — never a 503 while a
backend is left."""

from tests.unit.test_upstream_connect import FrozenLoop, Plane, Transport
from zerodown.model import RoutingTable
from zerodown.proxy.clientstate import WAIT
from zerodown.proxy.routing import Routes
from zerodown.proxy.server import ClientConn
from zerodown.proxy.settings import ProxySettings
from zerodown.proxy.upstream import BackendPool, RevisionTarget


def queued_client(plane, pool) -> ClientConn:
    client = ClientConn(plane)
    client.connection_made(Transport())
    client.head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    client.state, client.msg_done, client.keep_alive = WAIT, True, True
    client.target = RevisionTarget(pool.revision, [(pool, 1)])
    client.pool = client.waiting_for = pool
    pool.stats.in_flight = 1
    pool.waiters.append(client)
    return client


def test_a_rerouted_request_whose_revision_is_all_ejected_goes_to_another_revision():
    plane, loop = Plane(), FrozenLoop()
    pool = lambda name, rev, port: BackendPool(name, rev, f"127.0.0.1:{port}", loop,
                                               ProxySettings(max_conns_per_backend=0))
    leaving, ejected, other = pool("a", "v1", 9), pool("b", "v1", 10), pool("c", "v2", 11)
    ejected.ejected_until = loop.time() + 30
    plane.routes = Routes(RoutingTable(0), {"v1": RevisionTarget("v1", [(ejected, 1)]),
                                            "v2": RevisionTarget("v2", [(other, 1)])})
    plane.fallback_pool = lambda target, now, exclude: other if target is not None else None
    client = queued_client(plane, leaving)

    client.reroute()

    assert client.transport.written == []  # no 503
    assert client.pool is other and client.waiting_for is other  # queued there (bound 0)
    assert leaving.stats.in_flight == 0 and other.stats.in_flight == 1
