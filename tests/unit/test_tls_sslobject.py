"""The listening context's SSL objects (what uvloop's SSL transport drives per record):
read, write and pending are `_ssl`'s C methods, with no Python frame between, and a
connection through them still handshakes, picks the SNI certificate and carries data."""

from __future__ import annotations

import ssl
import types

import pytest

from tests.support.certs import TestCA
from zerodown.proxy import tls


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("certs"))
    ca.default, ca.api = ca.leaf("shop.test"), ca.leaf("api.test")
    return ca


def terminator(ca) -> tls.Terminator:
    config = tls.TlsConfig(tls.CertFiles(str(ca.default.cert), str(ca.default.key)),
                           (tls.CertFiles(str(ca.api.cert), str(ca.api.key), ("api.test",)),))
    return tls.Terminator(config, log=lambda line: None)


def pump(a: ssl.SSLObject, a_out: ssl.MemoryBIO, b_in: ssl.MemoryBIO) -> None:
    b_in.write(a_out.read())


def test_per_record_methods_are_the_c_ones_and_a_connection_works(ca):
    server_ctx = terminator(ca).context
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for name in ("read", "write", "pending"):  # a Python method here is a frame per record
        assert isinstance(getattr(server, name), types.BuiltinMethodType), name
    client_ctx = ssl.create_default_context(cafile=str(ca.ca))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="api.test")
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        pump(client, c_out, s_in)
        pump(server, s_out, c_in)
    serial = client.getpeercert()["serialNumber"].lower()
    assert serial.lstrip("0") == ca.api.serial.lstrip("0")  # the SNI callback still picks
    client.write(b"GET / HTTP/1.1\r\n\r\n")
    pump(client, c_out, s_in)
    assert server.pending() == 0 and server.read(65536) == b"GET / HTTP/1.1\r\n\r\n"
    assert server.write(b"HTTP/1.1 200 OK\r\n\r\n") == 19
    pump(server, s_out, c_in)
    assert client.read(65536) == b"HTTP/1.1 200 OK\r\n\r\n"
    assert server.selected_alpn_protocol() is None and server.version() == "TLSv1.3"
