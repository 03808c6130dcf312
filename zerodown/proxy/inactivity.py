"""How the sweeper bounds a request in flight: by inactivity, blamed on the side inactive.

A request first waits for a backend connection: at most queue_timeout (it was never
sent, so it goes elsewhere, else 503; a busy backend is not ejected). Once sent, the
clock `client.sent_at` restarts whenever the backend makes progress:
  - a piece of the request body is written to it (`progress`, server._forward_body);
  - its socket took bytes that were waiting for room: the connection's unwritten
    backlog shrank since the last sweep, or its writing resumed (upstream.py);
  - a piece of its response is read (`progress`, upstream.UpstreamConn.data_received).
Whom the proxy waits for decides the limit, as nginx's client_body_timeout and
proxy_read/send_timeout, and HAProxy's `timeout server` (inactivity, not total time):
  - the body is still coming and the backend took all it was given: the client.
    body_timeout, then 408 and the backend connection closed; the backend is not blamed.
  - the backend has request bytes it does not take, or has the whole request and no
    response byte came: the backend. response_timeout, then no_answer (retried when
    safe, else 504; the backend ejected).
  - its response has begun: the backend, unless the client reads too slowly to take
    more (its side is write-paused, so the proxy stopped reading the backend for it).
    response_timeout between two reads, then the response is cut (the client sees it end
    short) with an error line; not ejected: a stream that pauses (server-sent events, a
    long poll) may be the application's doing.
The hot path only sets a flag; the sweep (every SWEEP_INTERVAL) turns it into a time, so
each limit holds to within that interval.
"""

from __future__ import annotations

from zerodown.proxy.clientstate import BODY
from zerodown.proxy.retries import QUEUE_OVER, TAKEN_OUT, TIMED_OUT
from zerodown.proxy.server import ClientConn
from zerodown.proxy.settings import ProxySettings


def sweep_exchange(client: ClientConn, now: float, s: ProxySettings) -> None:
    """One sweep's look at a request in state BODY or WAIT (dataplane._sweep)."""
    up, pool = client.up, client.pool
    if pool is None:
        return  # answered, or an HTTP/2 session (its streams are swept one by one)
    if client.waiting_for is not None:  # queued or connecting: never sent
        if now - client.sent_at > s.queue_timeout:
            client.no_answer(QUEUE_OVER)  # busy, not silent: elsewhere, or 503
        elif pool.unreachable(now):
            client.no_answer(TAKEN_OUT)
        return
    if up is None:
        quiet = now - client.sent_at
    else:
        backlog = up.transport.get_write_buffer_size()
        if client.progress or backlog < client.backlog:
            client.progress, client.backlog, client.sent_at = False, backlog, now
            return
        client.backlog = backlog
        quiet = now - client.sent_at
        if up.got:  # the response has begun
            if client.write_paused:
                client.sent_at = now  # held back by its client, which reads slowly
            elif quiet > s.response_timeout:
                client.timed_out(f"backend {pool.address} stalled mid-response: no byte "
                                 f"for {quiet:.1f}s (--response-timeout), cut")
            return
        if client.state == BODY and not backlog:  # waiting for the client's body
            if quiet > s.body_timeout:
                client.timed_out(f"request body too slow: no byte for {quiet:.1f}s "
                                 f"(--body-timeout)")
            return
    if quiet > s.response_timeout:
        client.no_answer(TIMED_OUT)  # sent, no answer in time
    elif pool.unreachable(now):
        client.no_answer(TAKEN_OUT)  # its backend went silent: elsewhere if safe
