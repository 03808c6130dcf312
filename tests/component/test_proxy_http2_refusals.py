"""HTTP/2 that the real proxy process refuses: malformed fields and frames (never reaching
a backend), a body over its limit and more concurrent streams than allowed, and a seeded
corpus of broken frames after which it still serves. Serving HTTP/2: test_proxy_http2.py."""

from __future__ import annotations

import random
import socket
import time

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

from tests.support.h2client import H2Client, curl
from tests.support.net import HOST, wait_until
from tests.support.proxy import ProxyProcess, table_of


def raw_exchange(port: int, frames: list, wait: float = 3.0) -> list:
    """Send the preface, an empty SETTINGS and `frames` as they are; the frames that come
    back until the proxy closes (or `wait` passes)."""
    with socket.create_connection((HOST, port), timeout=wait) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize()
                  + b"".join(f.serialize() for f in frames))
        data = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    out = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9:9 + length]))
        out.append(frame)
        data = data[9 + length:]
    return out


def test_malformed_requests_are_refused_and_never_reach_a_backend(h2c_proxy):
    v1 = h2c_proxy.apps[0]
    before = h2c_proxy.stats()["revisions"]["v1"]["requests"]
    cases = {
        "connection-specific field": [("connection", "keep-alive")],
        "transfer-encoding": [("transfer-encoding", "chunked")],
        "upper-case name": [("X-Bad", "1")],
        "CR LF in a value": [("x-a", "1\r\nX-Smuggled: 1")],
        "host disagrees with :authority": [("host", "other.example")],
        "te other than trailers": [("te", "gzip")],
    }
    for why, fields in cases.items():
        c = H2Client(HOST, h2c_proxy.port, validate=False)
        sid = c.request("GET", "/", headers=fields)
        c.wait(lambda: c.goaway is not None or c.answers[sid].reset is not None)
        assert c.answers[sid].status == 0, why
        assert (c.goaway and c.goaway.error_code == 1) or c.answers[sid].reset == 1, why
        c.close()
    # content-length that the DATA frames contradict: more than said, and fewer
    for sent, said in ((b"x" * 20, "10"), (b"x" * 5, "10")):
        c = H2Client(HOST, h2c_proxy.port, validate=False)
        sid = c.request("POST", "/echo", headers=[("content-length", said)], end=False)
        c.send_body(sid, sent, end=True)
        c.wait(lambda: c.goaway is not None or c.answers[sid].reset is not None)
        assert c.answers[sid].status == 0 and c.goaway and c.goaway.error_code == 1
        c.close()
    # content-length with END_STREAM on the HEADERS: a body promised that never comes (the
    # backend would take the next request's bytes for it); this stream alone is reset
    c = H2Client(HOST, h2c_proxy.port, validate=False)
    bad = c.request("POST", "/echo", headers=[("content-length", "5")])
    good = c.request("GET", "/version")
    answers = c.wait_all([bad, good])
    assert answers[0].reset == 1 and answers[0].status == 0
    assert answers[1].status == 200 and c.goaway is None
    c.close()
    # a missing :path, and DATA on stream 0 (raw frames)
    c = H2Client(HOST, h2c_proxy.port, validate=False)
    # in one write: sent apart, the DATA could reach the proxy after it closed on the
    # HEADERS' error, and its kernel's reset then dropped the GOAWAY unread (a CI run)
    c.send_raw(HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"],
                            data=c.h2.encoder.encode([(":method", "GET"), (":scheme", "http"),
                                                      (":authority", "a")])).serialize()
               + b"\x00\x00\x03\x00\x00\x00\x00\x00\x00boo")  # DATA on stream 0
    c.wait(lambda: c.goaway is not None)
    assert c.goaway is not None and c.goaway.error_code == 1
    c.close()
    wait_until(lambda: h2c_proxy.stats()["rejected"] >= 10, timeout=5)
    assert h2c_proxy.stats()["revisions"]["v1"]["requests"] == before + 1  # the good one
    assert curl("--http2-prior-knowledge", f"http://{HOST}:{h2c_proxy.port}/").returncode == 0
    assert v1.alive


def test_limits_body_size_and_concurrent_streams(tmp_path, app_factory):
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge", "--http2-max-body-bytes", "1000",
                                      "--http2-max-streams", "5"])
    try:
        p.start()
        p.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
        c = H2Client(HOST, p.port)
        c.wait(lambda: c.server_settings)
        assert c.server_settings.get(3) == 5
        said = c.get("/echo", headers=[("content-length", "5000")], end=False)
        assert said.status == 413
        sid = c.request("POST", "/echo", end=False)  # no content-length: found while streaming
        c.send_body(sid, b"y" * 900, end=False)
        c.send_body(sid, b"y" * 900, end=True)
        assert c.wait_all([sid])[0].status == 413
        ok = c.wait_all([c.request("POST", "/echo", body=b"z" * 1000)])[0]
        assert ok.status == 200 and len(ok.body) == 1000
        c.close()
        # a client opening more streams than the server allows loses the connection
        enc = Encoder()
        frames = [HeadersFrame(sid, flags=["END_HEADERS", "END_STREAM"], data=enc.encode(
            [(":method", "GET"), (":path", "/slow?ms=500"), (":scheme", "http"),
             (":authority", "a")])) for sid in range(1, 17, 2)]
        got = raw_exchange(p.port, frames)
        goaway = [f for f in got if isinstance(f, GoAwayFrame)]
        assert goaway and goaway[0].error_code == 1, got  # PROTOCOL_ERROR
    finally:
        p.cleanup()


def on(frame, sid: int) -> bytes:
    """`frame` serialized on stream `sid`, whether or not that stream is allowed for it."""
    frame.stream_id = sid
    return frame.serialize()


def random_frames(rng: random.Random) -> list[bytes]:
    """A few frames a broken or hostile client might send, well-formed or not."""
    enc = Encoder()
    pool = [(":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/echo"),
            (":scheme", "http"), (":authority", "a"), ("content-length", "3"),
            ("content-length", "x"), ("connection", "close"), ("X-Up", "1"), (":status", "200"),
            ("host", "b"), ("te", "trailers"), (":protocol", "websocket"), ("a", "b\x00c")]
    out = []
    for _ in range(rng.randint(1, 8)):
        sid = rng.choice([0, 1, 1, 3, 5, 2, 2 ** 31 - 1])
        kind = rng.randrange(9)
        if kind == 0:
            fields = [rng.choice(pool) for _ in range(rng.randint(0, 6))]
            flags = rng.sample(["END_HEADERS", "END_STREAM", "PRIORITY"], rng.randint(0, 3))
            out.append(on(HeadersFrame(1, flags=flags, data=enc.encode(fields)), sid))
        elif kind == 1:
            out.append(on(DataFrame(1, data=b"x" * rng.randint(0, 70000),
                                    flags=rng.sample(["END_STREAM"], rng.randint(0, 1))), sid))
        elif kind == 2:
            out.append(on(WindowUpdateFrame(0, window_increment=rng.choice([0, 1, 2 ** 31 - 1])),
                          sid))
        elif kind == 3:
            out.append(on(RstStreamFrame(1, error_code=rng.randrange(14)), sid))
        elif kind == 4:
            out.append(on(ContinuationFrame(1, data=enc.encode([("a", "b")])), sid))
        elif kind == 5:
            out.append(on(SettingsFrame(0, settings={rng.randrange(1, 8): rng.choice(
                [0, 1, 2 ** 31, 2 ** 24])}), rng.choice([0, 0, 1])))
        elif kind == 6:
            out.append(on(PingFrame(0, opaque_data=b"12345678"), sid))
        elif kind == 7:  # a frame header claiming more than the frame size allows
            out.append(rng.randbytes(3) + bytes([rng.randrange(256)]) + rng.randbytes(5))
        else:
            out.append(rng.randbytes(rng.randint(1, 64)))
    return out


def test_a_seeded_corpus_of_broken_frames_leaves_the_proxy_serving(tmp_path, app_factory):
    # every error line written (none held back): a crash line would show
    h2c_proxy = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge",
                                              "--error-log-per-second", "100000"])
    h2c_proxy.start()
    h2c_proxy.apply(table_of(1, ("v1", 100, [app_factory("v1")])))
    try:
        run_corpus(h2c_proxy)
    finally:
        h2c_proxy.cleanup()


def run_corpus(h2c_proxy: ProxyProcess) -> None:
    rng = random.Random(16)
    for _ in range(60):
        with socket.create_connection((HOST, h2c_proxy.port), timeout=3) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize()
                      + b"".join(random_frames(rng)))
            s.settimeout(0.3)
            try:
                while s.recv(65536):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
    assert curl("--http2-prior-knowledge", f"http://{HOST}:{h2c_proxy.port}/").returncode == 0
    log = h2c_proxy.proc.log()
    assert "Traceback" not in log and "error on the HTTP/2 connection" not in log, log[-3000:]
    assert "held back" not in log and log.count("HTTP/2 from") > 30
    assert h2c_proxy.stats()["revisions"]["v1"]["in_flight"] == 0
