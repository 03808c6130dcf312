"""What a client connection does once its request is read: the exchange with a backend.

`Exchange` is everything after the request head, on the fields of its base
clientstate.ClientState: sending it to a backend (`attached`), passing the response
back (called by upstream.UpstreamConn), moving a request that got no answer to
another backend (retries.py: whether and where), and the error answers.
`server.ClientConn` adds the request side (reading, checking and routing heads,
streaming bodies) and is the class the proxy makes.
One class chain over three files: mypyc compiles them together and calls the
methods natively; `_take_head` is the one the request side fills in.
"""

from __future__ import annotations

from time import perf_counter
from typing import Final

from zerodown.proxy.answers import answer, refusal
from zerodown.proxy.clientstate import BODY, CLOSED, DISCARD, HEAD, TUNNEL, WAIT, ClientState
from zerodown.proxy.retries import QUEUE_OVER, TAKEN_OUT, TIMED_OUT, fallback, next_pool, retry_safe
from zerodown.proxy.upstream import BackendPool, UpstreamConn

_perf_counter: Final = perf_counter  # a C static in the compiled module, not a globals lookup


class Exchange(ClientState):  # server.ClientConn is the asyncio protocol, by duck typing
    __slots__ = ()  # the fields are ClientState's

    def _take_head(self, data: bytes) -> None:
        """Read the next request from `data` (server.ClientConn: the request side)."""
        raise NotImplementedError

    def _use(self, pool: BackendPool | None, now: float) -> None:
        if pool is None:
            return self._reply_error(503, "no backend available")
        self.pool = pool
        self.waiting_for = pool
        self.sent_at = now
        pool.stats.in_flight += 1
        pool.acquire(self)

    def _leave_pool(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.stats.in_flight -= 1

    def attached(self, up: UpstreamConn) -> None:
        """An upstream connection was handed to this request: send it."""
        # sent_at was set as it was handed over; backlog was the last connection's reading
        self.waiting_for, self.progress, self.backlog = None, False, 0
        self.up = up
        if self.write_paused:
            up.transport.pause_reading()
        if self.body:
            if self.paused and self.state == BODY:  # held while queued (_forward_body): read on;
                self.paused = False  # resumed first, so the write below may pause it again
                self.transport.resume_reading()
            up.transport.writelines([self.head, *self.body])
            if not self.body_kept:
                self.body = []
        else:
            up.write(self.head)

    # -- response side (called by UpstreamConn) ----------------------------
    def inject_into(self, data: bytes) -> bytes:
        """Add the pending header lines to the response that starts `data`.

        An interim 1xx response is passed over: the lines belong to the final one.
        """
        start = 0
        while data.startswith(b"1", start + 9):  # "HTTP/1.1 1xx"
            start = data.find(b"\r\n\r\n", start) + 4
            if start == 3 or start == len(data):
                return data  # the final response starts in a later read
        i = data.find(b"\r\n", start) + 2
        if i == 1:
            return data
        inject, self.inject = self.inject or b"", None
        if self.state == BODY:
            inject += self._answered_early()
        return b"".join((data[:i], inject, data[i:]))

    def _answered_early(self) -> bytes:
        """The final response starts while the request's body is still coming (a 413, a
        401): its backend connection will not be reused (`early`, UpstreamConn), even if
        the rest reaches the backend before the response ends (what a backend does with a
        body it answered unread is its own business), and this one is
        kept only if the rest of the body is read and dropped — a known length up to
        discard_body_limit — else the response says it closes (RFC 9110 15.5, as nginx
        and HAProxy do). The line to add to the response head."""
        self.early = True
        if self.close_after:
            return b""  # already said (shutting down)
        left = self.cl_left
        if left is not None and left <= self.settings.discard_body_limit:
            return b""
        self.close_after = True
        return b"Connection: close\r\n"

    def response_done(self, status: int, upstream_keep: bool, now: float) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:  # always: narrowed so the compiled code reads it natively
            stats = pool.stats
            stats.in_flight -= 1
            stats.record(status, _perf_counter() - self.t0)
            if self.tried:
                stats.saved += 1
            pool.fails = 0
            pool.silent = False
        capture = self.capture
        if capture is not None:  # the copy goes to a bounded queue: never waited for
            self.capture = None
            mirror = self.plane.mirror
            if mirror is not None:
                mirror.offer(self.head, b"", b"".join(capture))
        self.up = None
        if self.body:
            self.body = []
        self.served += 1
        self.last_active = now
        self._next_request(upstream_keep)

    def capture_too_large(self) -> None:
        """Stable's response outgrew what a shadow compares: its chunks are let go."""
        self.capture = None
        mirror = self.plane.mirror
        if mirror is not None:
            mirror.too_large += 1

    def _next_request(self, reusable: bool) -> None:
        if not reusable or not self.keep_alive or self.state != WAIT or self.close_after \
                or not self.msg_done:
            if self.state != BODY:
                self.state = CLOSED
                self.transport.close()
            elif reusable and not self.close_after:  # answered early, a short rest to come
                self.state = DISCARD
                self.body_kept = False  # dropped, never kept for a retry
                self.last_active = self.clock()  # the sweeper bounds the wait for it
            else:  # the body's rest unread: closing now would reset the answer away
                self._linger()
            return
        self.state = HEAD
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        if self.buf:
            data, self.buf = self.buf, b""
            self._take_head(data)

    def announce_close(self) -> None:
        """Shutting down: the response to come tells the client to reconnect elsewhere.

        Closing a keep-alive connection without saying so races the client's
        next request; saying `Connection: close` in a response does not.
        """
        if not self.close_after and (self.up is None or not self.up.got):
            self.inject = (self.inject or b"") + b"Connection: close\r\n"
            self.close_after = True

    def start_tunnel(self, up: UpstreamConn) -> None:
        self.state = TUNNEL
        pool, self.pool = self.pool, None
        pool.stats.in_flight -= 1  # type: ignore[union-attr]
        pool.stats.record(101, _perf_counter() - self.t0)  # type: ignore[union-attr]
        if self.buf:
            data, self.buf = self.buf, b""
            up.write(data)

    def upstream_failed(self, up: UpstreamConn | None, *, sent: bool) -> None:
        """No response byte came: retry elsewhere when it is safe, else 502."""
        self.up = None
        pool = self.pool
        if pool is None or self.state == CLOSED:
            return
        if up is not None and not up.reused:
            pool.failed()  # a fresh connection died at once: the backend is going away
        now = self.loop.time()
        nxt = self._retry_pool(sent, pool, now)
        if nxt is not None:
            return self._move(pool, nxt, now)
        self._reply_error(502, "backend closed the connection before responding"
                          if sent else "backend refused the connection")

    def no_answer(self, cause: int) -> None:
        """No response byte came and the proxy stops waiting (called by the sweeper):
        response_timeout passed since it was sent (TIMED_OUT), the backend was taken out
        as not answering (TAKEN_OUT), it left the table and its drain gave up
        (DRAIN_OVER), or it waited queue_timeout for a connection and was never sent
        (QUEUE_OVER: the backend is busy, not silent, so it is not ejected; 503 when
        nowhere else). The request moves to another backend when that is safe (it never
        reached this one, or it is idempotent and kept whole); else 504, but a taken-out
        backend is left to answer within the timeout (it may be slow, not gone: a POST
        is never sent twice)."""
        pool = self.pool
        if pool is None or self.state == CLOSED:
            return
        up = self.up
        if cause == TIMED_OUT and self.waiting_for is None:  # only a sent request proves silence
            pool.timed_out()  # ejected, its idle connections closed: they lead to the silence
        now = self.loop.time()
        nxt = self._retry_pool(up is not None, pool, now)
        if nxt is None and cause == TAKEN_OUT:
            return
        if self.waiting_for is not None:
            self.waiting_for.forget(self)
            self.waiting_for = None
        if up is not None:  # no reset will ever come: this connection is done
            self.up = None
            up.client = None
            up.transport.close()
        if nxt is not None:
            return self._move(pool, nxt, now)
        if cause == QUEUE_OVER:
            return self._reply_error(503, "no backend connection free in time")
        self._reply_error(504, "backend did not respond in time" if cause == TIMED_OUT else
                          "backend did not respond before its drain timeout")

    def _retry_pool(self, sent: bool, pool: BackendPool, now: float) -> BackendPool | None:
        """No response byte came from `pool`: where to next, when that is safe (retries.py)."""
        return next_pool(self.plane, self.target, self.tried, pool, now) \
            if retry_safe(sent, self.msg_done, self.body_kept, self.head) else None

    def _move(self, pool: BackendPool, nxt: BackendPool, now: float) -> None:
        """Retry on `nxt`: counted as a retry of `pool`, and as saved if `nxt` answers."""
        self.tried += (pool,)
        pool.stats.retries += 1
        self._leave_pool()
        self._use(nxt, now)

    def upstream_eof(self, up: UpstreamConn) -> None:
        """The backend closed mid-response: pass the end on by closing too."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.stats.in_flight -= 1
            pool.stats.cut += 1
            pool.stats.record(up.status or 502, _perf_counter() - self.t0)
        self.up = None
        self.state = CLOSED
        self.transport.close()

    def upstream_broken(self, up: UpstreamConn, why: str, first: bool) -> None:
        self.up = None
        if not first:  # part of the response is already out: all we can do is cut
            return self._abort_exchange(why, replied=True)
        self._reply_error(502, why)

    def reroute(self) -> None:
        """The backend this request waits for left the table: go where the table says now."""
        self.waiting_for = None
        old = self.pool
        self._leave_pool()
        now = self.loop.time()
        target = self.plane.routes.targets.get(old.revision) if old else None
        if target is None:
            target, _ = self.plane.routes.pick(self.head)
        self.target = target
        pool = target.choose(now) if target else None
        if pool is None and target is not None:
            pool = fallback(self.plane, target, now)
        self._use(pool, now)

    # -- errors -------------------------------------------------------------
    def _reply_error(self, status: int, why: str) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.stats.in_flight -= 1
            pool.stats.errors += 1
            pool.stats.record(status, _perf_counter() - self.t0)
        elif status != 404:  # no revision to count it against (no route, nothing to fall back to)
            self.plane.unrouted += 1  # (a 404 for an unknown host is counted by Services.pick)
        self.waiting_for = None
        keep = self.msg_done and self.keep_alive and not self.plane.stopping
        self.transport.write(answer(status, "text/plain", why.encode() + b"\n", keep, self.is_head))
        self._next_request(keep)

    def _reject(self, status: int, why: str) -> None:
        """A request that cannot be parsed, is too big or refused: answer and close."""
        self.plane.rejected += 1
        self.plane.errors.line(f"{status} to {self.peer}: {why}")
        self.transport.write(refusal(status))
        self._linger()

    def _linger(self) -> None:
        """A lingering close: FIN after the answer, the client's unread bytes read and
        dropped until it closes (the sweeper ends it after LINGER). Closing at once
        with bytes unread sends a reset, which can destroy the answer in flight."""
        transport = self.transport
        self.state = CLOSED
        self.last_active = self.clock()
        if self.paused:
            self.paused = False
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def _abort_exchange(self, why: str, replied: bool | None = None, status: int = 400) -> None:
        """Cut the exchange: `status` if nothing was answered yet, else a hard close."""
        up, self.up = self.up, None
        if replied is None:
            replied = up is not None and up.got
        if self.waiting_for is not None:
            self.waiting_for.forget(self)
            self.waiting_for = None
        if up is not None:
            up.client = None
            up.transport.close()
        pool = self.pool
        if pool is not None and replied:  # counted: the client saw a response start, then a cut
            self.pool = None
            pool.stats.in_flight -= 1
            pool.stats.cut += 1
            pool.stats.record(up.status if up is not None and up.status else 502,
                              _perf_counter() - self.t0)
        elif pool is not None:
            self._leave_pool()
        self.state = CLOSED
        if replied:
            self.plane.errors.line(f"cut the exchange with {self.peer}: {why}")
            self.transport.abort()
        else:
            self._reject(status, why)

    def _crashed(self, e: Exception) -> None:
        """An error no path above expected: one log line, and the connection ends cleanly."""
        self.plane.errors.line(f"error on the connection from {self.peer}: "
                               f"{type(e).__name__}: {e}")
        if self.state == CLOSED:
            self.transport.abort()
            return
        try:
            self._abort_exchange(f"{type(e).__name__}")
        except Exception:
            self.state = CLOSED
            self.transport.abort()

    def timed_out(self, why: str) -> None:
        """Sweeper: a head or body too slow (408), a response stalled mid-way (cut short)."""
        self._abort_exchange(why, status=408)
