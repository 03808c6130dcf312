"""The mirror (zerodown/shadow/mirror.py) against real shadow servers on loopback."""

import asyncio
import json
import time

from zerodown.shadow.diff import Answer, Spec, parse_path
from zerodown.shadow.mirror import Mirror, keeping

HEAD = b"GET /items/%d HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive\r\n\r\n"


async def _server(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[:2]


async def _finished(mirror: Mirror, server, copies: int, timeout: float = 20) -> dict:
    """The mirror's stats once `copies` copies were compared, failed or timed out; both closed."""
    deadline = time.monotonic() + timeout
    while mirror.compared + mirror.failed + mirror.timed_out < copies:
        assert time.monotonic() < deadline, mirror.stats()
        await asyncio.sleep(0.02)
    await mirror.close()
    server.close()
    return mirror.stats()


def _stable(n: int) -> Answer:
    return Answer(200, (("Content-Type", "application/json"),),
                  json.dumps({"id": n, "price": 10, "time": 1}).encode())


async def _answer(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    assert b"keep-alive" not in head.lower()  # the user's connection headers are not sent
    n = int(head.split(b" ")[1].rsplit(b"/", 1)[1])
    doc = {"id": n, "price": 11 if n % 100 == 7 else 10, "time": time.time()}  # 1% differ
    body = json.dumps(doc).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


def test_the_mirror_compares_every_copy_and_names_the_differing_ones():
    async def main():
        server, address = await _server(_answer)
        mirror = Mirror(address, Spec(ignore=(parse_path("$.time"),)), capacity=1000)
        mirror.start()
        for n in range(300):
            assert mirror.offer(HEAD % n, b"", _stable(n))
        return await _finished(mirror, server, 300)

    stats = asyncio.run(main())
    assert (stats["compared"], stats["differing"], stats["dropped"]) == (300, 3, 0), stats
    assert stats["examples"][0] == {"request": "GET /items/7 HTTP/1.1", "what": "body",
                                    "where": "$.price", "stable": "10", "shadow": "11"}


def test_a_shadow_that_hangs_never_holds_an_offer_and_overflow_is_dropped_and_counted():
    async def main():
        hung = []

        async def hang(reader, writer):
            hung.append(writer)
            await asyncio.sleep(3600)

        server, address = await _server(hang)
        mirror = Mirror(address, Spec(), capacity=50, workers=2, timeout=0.5)
        mirror.start()
        t0 = time.perf_counter()
        accepted = sum(mirror.offer(HEAD % n, b"", _stable(n)) for n in range(1000))
        spent = time.perf_counter() - t0
        deadline = time.monotonic() + 10
        while mirror.timed_out < 2:
            assert time.monotonic() < deadline, mirror.stats()
            await asyncio.sleep(0.05)
        await mirror.close()
        for w in hung:
            w.close()
        server.close()
        return accepted, spent, mirror.stats()

    accepted, spent, stats = asyncio.run(main())
    assert accepted == 50 and stats["dropped"] == 950  # the queue's bound, nothing waited
    assert spent < 0.5, spent  # 1000 offers against a hung shadow: no wait in any of them
    assert stats["timed_out"] >= 2 and stats["compared"] == 0


def test_a_worker_whose_copy_was_cut_for_time_goes_on_with_the_next_ones():
    async def main():
        async def first_hangs(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            n = int(head.split(b" ")[1].rsplit(b"/", 1)[1])
            if n == 0:
                await asyncio.sleep(3600)
            body = json.dumps({"id": n, "price": 10, "time": time.time()}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            writer.close()

        server, address = await _server(first_hangs)
        mirror = Mirror(address, Spec(ignore=(parse_path("$.time"),)), workers=1, timeout=0.3)
        mirror.start()
        t0 = time.monotonic()
        for n in range(6):
            mirror.offer(HEAD % n, b"", _stable(n))
        stats = await _finished(mirror, server, 6)
        return stats, time.monotonic() - t0

    stats, took = asyncio.run(main())
    assert (stats["timed_out"], stats["compared"], stats["failed"]) == (1, 5, 0), stats
    assert 0.3 <= took < 5, took  # cut after its timeout (at most 1.25x), not held for the hang


def test_stable_may_be_given_as_the_raw_bytes_the_user_got():
    from zerodown.shadow.mirror import parse_response
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
           b"3\r\n{\"a\r\n5\r\n\": 1}\r\n0\r\n\r\n")
    assert parse_response(raw) == Answer(200, (("Transfer-Encoding", "chunked"), ("X-A", "1")),
                                         b'{"a": 1}')

    async def main():
        server, address = await _server(_answer)
        mirror = Mirror(address, Spec(ignore=(parse_path("$.time"),)))
        mirror.start()
        body = json.dumps({"id": 7, "price": 10, "time": 1}).encode()
        mirror.offer(HEAD % 7, b"", b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        mirror.offer(HEAD % 8, b"", b"HTTP/1.1 200 OK\r\nContent-Len")  # torn: counted
        return await _finished(mirror, server, 2)

    stats = asyncio.run(main())
    assert (stats["compared"], stats["differing"], stats["failed"]) == (1, 1, 1), stats


def test_a_kept_connection_carries_many_copies_and_a_head_ends_at_its_headers():
    async def main():
        connections = []

        async def keep_alive(reader, writer):  # answers every request on one connection
            connections.append(writer)
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                body = b"" if head.startswith(b"HEAD ") else b"hello"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body)

        server, address = await _server(keep_alive)
        mirror = Mirror(address, Spec(body="exact"), workers=1, timeout=2)
        mirror.start()
        for n in range(20):
            method = b"HEAD" if n % 2 else b"GET"
            mirror.offer(method + (HEAD % n)[3:], b"", Answer(200, (("Content-Length", "5"),),
                                                               b"" if n % 2 else b"hello"))
        stats = await _finished(mirror, server, 20)
        return stats, len(connections)

    stats, opened = asyncio.run(main())
    assert (stats["compared"], stats["differing"], stats["timed_out"]) == (20, 0, 0), stats
    assert opened == 10  # kept alive from each GET to the HEAD after it, new after a HEAD


def test_the_users_connection_headers_are_not_sent_to_the_shadow():
    assert keeping(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n\r\n") \
        == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
