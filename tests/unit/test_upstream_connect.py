"""A connection that dies between its connect and the connect's callback.

The backend accepted and then died (killed while connections to it were
being opened): the reset can reach the connection before the pool's
connect callback runs. That connection must never carry the request — it
would wait for an answer that cannot come — the request goes elsewhere.
"""

from zerodown.model import RoutingTable
from zerodown.proxy.clientstate import WAIT
from zerodown.proxy.routing import Routes
from zerodown.proxy.server import ClientConn
from zerodown.proxy.settings import ProxySettings
from zerodown.proxy.upstream import BackendPool, RevisionTarget, UpstreamConn


class FrozenLoop:
    def time(self):
        return 100.0


class Plane:
    """What a ClientConn reads of its DataPlane."""

    def __init__(self):
        self.loop, self.settings, self.stopping, self.clients = FrozenLoop(), ProxySettings(), False, set()
        self.refused_methods = self.settings.refused_methods()
        self.refused_initials = bytes(256)
        self.client_limit = 1000
        self.forwarded_proto = b"\r\nX-Forwarded-Proto: http\r\n"  # as plane.Plane declares
        self.routes = Routes(RoutingTable(0), {})  # the table in force (a real one: the compiled proxy checks types)
        self.marks = self.routes.marks  # what the head scan flags

    def fallback_pool(self, target, now, exclude):
        return None


class Transport:
    def __init__(self):
        self.written, self.closed = [], False

    def write(self, data):
        self.written.append(data)

    def close(self):
        self.closed = True

    def get_extra_info(self, name):
        return ("127.0.0.1", 40000)


class ConnectDone:
    """The finished connect task, as the pool's done-callback sees it."""

    def __init__(self, conn):
        self.conn = conn

    def cancelled(self):
        return False

    def exception(self):
        return None

    def result(self):
        return None, self.conn


def test_a_connection_reset_before_its_connect_callback_is_never_used():
    plane, loop = Plane(), FrozenLoop()
    bad = BackendPool("bad", "v1", "127.0.0.1:9", loop, ProxySettings())
    good = BackendPool("good", "v1", "127.0.0.1:10", loop, ProxySettings())
    warm = UpstreamConn(good)
    warm.connection_made(Transport())
    good.conns.add(warm)
    good.idle.append(warm)

    client = ClientConn(plane)
    client.connection_made(Transport())
    client.head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    client.state, client.msg_done, client.keep_alive = WAIT, True, True
    client.target = plane.routes.targets["v1"] = RevisionTarget("v1", [(bad, 1), (good, 1)])
    client.pool = client.waiting_for = bad
    bad.stats.in_flight = 1
    bad.opening = 1

    dead = UpstreamConn(bad)
    dead.connection_made(Transport())
    dead.connection_lost(ConnectionResetError())  # the reset came first
    bad._connected(client, ConnectDone(dead))

    assert dead not in bad.conns and bad.opening == 0
    assert dead.transport.written == []              # nothing sent into the dead one
    assert bad.ejected_until > loop.time()           # counted as a failed connect
    assert client.up is warm and warm.transport.written == [client.head]  # went to the other
    assert client.pool is good and bad.stats.in_flight == 0 and good.stats.in_flight == 1
