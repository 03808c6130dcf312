"""A load generator that counts every response.

Tests use it to prove that a deployment failed no request: each request
sent ends in exactly one outcome, a status or an error kind, so
``sent == ok + failed()`` always holds.

    result = run_load_sync("http://127.0.0.1:8080/", connections=8, duration=5)
    with LoadInBackground("http://127.0.0.1:8080/") as load:
        ...deploy...
    result = load.result
    with LoadInProcess("http://127.0.0.1:8080/") as load:   # clients apart from the caller
        ...

Each connection keeps alive and sends requests back to back. A server that
closes a connection after a complete response is fine (we reconnect). A
connection closed or reset before the complete response is an error, unless
``retry_idempotent_once`` is set and the request was idempotent, went out on
a reused connection and got no byte back: then it is retried once on a new
connection, like browsers and urllib3 do, and counted in ``retried``.

Command line: ``python -m zerodown.loadgen URL -c 8 -d 5 [-H 'Name: v'] [--json]``.
"""

from zerodown.loadgen.apart import LoadInProcess
from zerodown.loadgen.background import LoadInBackground
from zerodown.loadgen.result import LoadResult
from zerodown.loadgen.run import new_event_loop, run_load, run_load_sync

__all__ = ["LoadInBackground", "LoadInProcess", "LoadResult", "new_event_loop", "run_load",
           "run_load_sync"]
