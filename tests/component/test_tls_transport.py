"""The proxy's own TLS transport (tls_transport.py) on real sockets, with Python's ssl as the
client: data both ways, SNI and ALPN, close_notify in both directions, a bounded write buffer
under a client that does not read, paused reading, and connections that never finish a
handshake. The server side runs on a uvloop loop in a thread, as in the proxy."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import threading
import time

import pytest
import uvloop

from tests.support.certs import TestCA
from tests.support.net import HOST, wait_until
from zerodown.proxy import tls, tls_transport
from zerodown.proxy.tls_transport import HIGH_WATER, TlsServer


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("certs"))
    ca.default, ca.api = ca.leaf("shop.test"), ca.leaf("api.test")
    return ca


class Recorder:
    """A protocol that keeps what happens to it; `echo` answers every piece at once."""

    def __init__(self, echo: bool):
        self.echo, self.got, self.events = echo, bytearray(), []
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        assert isinstance(data, bytes)
        self.got += data
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")


class Served:
    """A TlsServer on 127.0.0.1 in a loop thread; `call` runs a function in that loop."""

    def __init__(self, ca, echo: bool = True, handshake_timeout: float = 5.0):
        config = tls.TlsConfig(tls.CertFiles(str(ca.default.cert), str(ca.default.key)),
                               (tls.CertFiles(str(ca.api.cert), str(ca.api.key), ("api.test",)),),
                               http2=True)
        self.terminator = tls.Terminator(config, log=lambda line: None)
        self.protocols: list[Recorder] = []
        self.ca_file = ca.ca
        self.loop = uvloop.new_event_loop()
        listen = socket.socket()
        listen.bind((HOST, 0))
        self.port = listen.getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        def factory():
            self.protocols.append(Recorder(echo))
            return self.protocols[-1]
        self.server = self.call(lambda: TlsServer(self.loop, listen, factory,
                                                  self.terminator.context, handshake_timeout))

    def call(self, fn):
        async def run():
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def client(self, name="shop.test", alpn=None) -> ssl.SSLSocket:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if alpn:
            ctx.set_alpn_protocols(alpn)
        raw = socket.create_connection((HOST, self.port), timeout=5)
        # a bare FIN raises SSLEOFError: b"" from recv means close_notify
        return ctx.wrap_socket(raw, server_hostname=name, suppress_ragged_eofs=False)

    def stop(self):
        self.call(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def served(ca):
    s = Served(ca)
    yield s
    s.stop()


def recv_exactly(sock: ssl.SSLSocket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        more = sock.recv(n - len(out))
        assert more, f"closed after {len(out)} of {n} bytes"
        out += more
    return bytes(out)


def test_bytes_go_both_ways_with_the_sni_certificate_and_alpn(served, ca):
    with served.client("api.test", alpn=["h2", "http/1.1"]) as c:
        assert c.getpeercert()["serialNumber"].lower().lstrip("0") == ca.api.serial.lstrip("0")
        assert c.selected_alpn_protocol() == "h2"
        for size in (1, 300, 20000, 100_000):  # one record, several records
            piece = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            c.sendall(piece)
            assert recv_exactly(c, len(piece)) == piece
        p = served.protocols[0]
        info = served.call(lambda: (p.transport.get_extra_info("peername"),
                                    p.transport.get_extra_info("ssl_object")
                                    .selected_alpn_protocol()))
        assert info == (c.getsockname(), "h2")


def test_close_sends_close_notify_after_what_is_buffered(served):
    with served.client() as c:
        c.sendall(b"ping")
        assert recv_exactly(c, 4) == b"ping"
        p = served.protocols[0]
        served.call(lambda: (p.transport.write(b"last words"), p.transport.close()))
        assert recv_exactly(c, 10) == b"last words"
        assert c.recv(100) == b""  # close_notify: a clean end, not a reset or a bare FIN
        wait_until(lambda: p.events[-1:] == ["lost"], 5, "connection_lost")
        assert served.call(lambda: p.transport.is_closing())
        served.call(lambda: p.transport.write(b"ignored"))  # after close: dropped, no error


def test_the_clients_close_notify_ends_the_connection(served):
    c = served.client()
    c.sendall(b"hello")
    assert recv_exactly(c, 5) == b"hello"
    raw = c.unwrap()  # sends close_notify and waits for the proxy's
    assert raw.recv(10) == b""  # then FIN
    raw.close()
    p = served.protocols[0]
    wait_until(lambda: p.events == ["made", "eof", "lost"], 5, "eof and connection_lost")


def test_a_client_that_does_not_read_pauses_the_writer_and_the_buffer_stays_bounded(served):
    with served.client() as c:
        c.sendall(b"x")
        assert recv_exactly(c, 1) == b"x"
        p = served.protocols[0]
        chunk = bytes(range(256)) * 64  # 16 KiB
        sent, most = 0, 0
        deadline = time.monotonic() + 10
        while "pause" not in p.events:  # the writer goes on until told to stop, as a proxy does
            assert time.monotonic() < deadline, "pause_writing never came"
            served.call(lambda: p.transport.write(chunk))
            sent += len(chunk)
            most = max(most, served.call(p.transport.get_write_buffer_size))
        assert most <= HIGH_WATER + len(chunk)  # bounded: the kernel's buffers, then ours
        got = recv_exactly(c, sent)
        assert got == chunk * (sent // len(chunk))  # every byte, in order
        wait_until(lambda: "resume" in p.events, 5, "resume_writing")
        assert served.call(p.transport.get_write_buffer_size) == 0


def test_paused_reading_holds_the_clients_bytes_until_resumed(served):
    with served.client() as c:
        c.sendall(b"a")
        assert recv_exactly(c, 1) == b"a"
        p = served.protocols[0]
        served.call(p.transport.pause_reading)
        c.sendall(b"held")
        time.sleep(0.2)  # nothing may arrive meanwhile; a negative needs a short wait
        assert bytes(p.got) == b"a"
        served.call(p.transport.resume_reading)
        assert recv_exactly(c, 4) == b"held"


@pytest.mark.parametrize("first", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01"])
def test_no_handshake_no_protocol_and_the_connection_is_closed(ca, first):
    s = Served(ca, handshake_timeout=0.3)
    try:
        with socket.create_connection((HOST, s.port), timeout=5) as raw:
            raw.sendall(first)  # nothing, plain HTTP, or a ClientHello that never ends
            raw.settimeout(5)
            try:
                while raw.recv(4096):
                    pass  # an alert, then the close
            except ConnectionResetError:
                pass
        assert s.protocols == []
    finally:
        s.stop()


def test_after_teardown_no_descriptor_or_handle_is_left(served):
    clients = [served.client() for _ in range(5)]
    for c in clients:
        c.sendall(b"z")
        assert recv_exactly(c, 1) == b"z"
    for p in served.protocols:
        served.call(p.transport.abort)
    for c in clients:
        with pytest.raises(ssl.SSLEOFError):  # abort: no close_notify
            c.recv(10)
        c.close()
    wait_until(lambda: all(p.events[-1] == "lost" for p in served.protocols), 5, "all lost")
    assert all(served.call(lambda p=p: p.transport.state) == tls_transport.DONE
               for p in served.protocols)


class FailsOnce:
    """A listening socket whose first accept() fails as when out of descriptors."""

    def __init__(self, sock):
        self.sock, self.failed = sock, False

    def accept(self):
        if not self.failed:
            self.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return self.sock.accept()


@pytest.mark.parametrize("closed_meanwhile", [False, True])
def test_a_failed_accept_pauses_accepting_and_a_close_meanwhile_is_final(
        ca, monkeypatch, closed_meanwhile):
    monkeypatch.setattr(tls_transport, "ACCEPT_PAUSE", 0.2)
    s = Served(ca)
    try:
        s.call(lambda: setattr(s.server, "sock", FailsOnce(s.server.sock)))
        raw = socket.create_connection((HOST, s.port), timeout=5)  # queued, not yet accepted
        wait_until(lambda: s.server.sock.failed, 5, "the failed accept")
        if closed_meanwhile:  # a draining proxy must not start accepting again
            s.call(s.server.close)
            time.sleep(0.5)  # past ACCEPT_PAUSE: a negative needs a short wait
            assert not s.call(lambda: s.server.serving) and s.protocols == []
            raw.close()
            return
        ctx = ssl.create_default_context(cafile=str(ca.ca))
        with ctx.wrap_socket(raw, server_hostname="shop.test") as c:  # accepted after the pause
            c.sendall(b"late")
            assert recv_exactly(c, 4) == b"late"
    finally:
        s.stop()
