"""One SSH connection per host, commands as channels over it (asyncssh).

    pool = Connections(options, folder)            # options: runtimes/ssh_options.SshOptions
    done = pool.run("app1", "uname -a", timeout=5)  # Done(status, stdout, stderr)
    done.status is None                             # unknown: the channel died or timed out
    line = pool.ask("app1", "python3 -m zerodown.hosts.agent --serve", request_line, timeout=5)
    pool.close()

The runtime is synchronous; the connections live on one event loop in a thread of
their own, so a slow host never blocks another's commands. Every command has a
timeout, and it bounds the whole call: the wait for a connection being (re)opened
counts in it, so a 2 s look (`zerodown status`) at a host being reconnected takes 2 s,
not runtime.connect_timeout more. The opening itself goes on (bounded by
connect_timeout) for the next call: one opening per host, shared, never cut short by
a caller's own bound. A command whose exit status did not arrive (timeout, connection lost) is
reported as unknown (status None), never as success, and the connection it ran
on is dropped: the next command opens a new one. At most MAX_STARTS connection
set-ups run at once per host (sshd's MaxStartups drops bursts). Keepalives find a
silently dead link (packets dropped, no reset) within keepalive × KEEPALIVE_COUNT
(how a connection is opened, its options and errors: hosts/ssh_connect.py).

`ask` sends one line to a long-running command (the agent's `--serve`) and reads its one
line of answer: sessions of that command are kept open per host and reused, so a call
costs a round trip on the open connection, not a new channel, shell and process start.
A session is only reused after it answered; one that did not answer in time, or ended, is
closed and its outcome is unknown, as with `run`. Idle sessions (hosts/idle_sessions.py)
of a command that takes heartbeats (the agent's) are sent one every runtime.keepalive.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Sequence

import asyncssh

from zerodown.hosts import progress_send
from zerodown.hosts.connect_words import why
from zerodown.hosts.console import LocalTerminal, attach
from zerodown.hosts.done import Done, as_text, exit_status
from zerodown.hosts.idle_sessions import IdleSessions
from zerodown.hosts.ssh_connect import ConnectTimedOut, HostUnreachable, open_connection
from zerodown.hosts.unix_forward import UnixForwards
from zerodown.runtimes.ssh_options import SshOptions

MAX_STARTS = 3      # connection set-ups in flight per host
SESSIONS = 8        # session channels open at once per host, idle `ask` ones too (sshd's
                    # MaxSessions is 10 by default: above it a channel is refused)


class Connections:
    """The fleet's connections, opened on first use and re-opened when they died."""

    kept = False  # a long-lived controller's, shared by its runtimes (runtimes/kept.py)

    def __init__(self, options: SshOptions, folder: str = "."):
        self.options = options
        self.folder = folder
        self.specs = {spec.name: spec for spec in options.hosts}
        self._conns: dict[str, Any] = {}
        self._starts: dict[str, asyncio.Semaphore] = {}
        self._opening: dict[str, asyncio.Task] = {}  # host -> its connection being opened
        self._sessions: dict[str, asyncio.Semaphore] = {}  # SESSIONS permits per host
        self._idle = IdleSessions(self._permits)  # `ask` sessions between requests
        self._peers: dict[str, str] = {}  # the address each host's last connection reached
        self._forwards = UnixForwards(self._connection, options.command_timeout)
        # a service's adopt answers asked with its release check, for the runtime (of any
        # controller sharing these connections: runtimes/kept.py) that runs its deployment
        self.prefetched: dict[str, tuple[float, dict[str, list]]] = {}
        # host -> the agent folders found or put there over its connection (SshHost), for
        # every runtime over these (a long-lived controller's per request and run: else
        # each looked again, and took the release check's shell path: no adopt prefetched);
        # forgotten when the host's connection is opened anew (it may be another machine)
        self.agents: dict[str, set[str]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="zerodown-ssh",
                                        daemon=True)
        self._thread.start()
        self._loop.call_soon_threadsafe(self._idle.beat_every, self._loop, options.keepalive)

    # --- the synchronous face ---------------------------------------------

    def run(self, host: str, command: str, *, input: str | None = None,
            timeout: float | None = None) -> Done:
        """Run `command` (a shell line) on `host`; HostUnreachable if no connection opens."""
        limit = timeout if timeout is not None else self.options.command_timeout
        return self._call(self._run(host, command, input, limit), limit + 5)

    def send(self, host: str, command: str, source: progress_send.Source, *,
             stall: float) -> Done:
        """Run `command` on `host` with `source`'s chunks as its stdin, each made as the
        last was taken (hosts/progress_send.py): no bound on the whole, only on progress;
        status None (unknown) when nothing moved for `stall` seconds, its stderr naming
        the host and how much of the source it took."""
        async def work(conn) -> Done:
            return await progress_send.send(conn, command, source, stall)
        return self._call(self._command(host, stall, work, whole=False), None)

    def ask(self, host: str, command: str, line: str, *, timeout: float | None = None,
            heartbeat: bool = False) -> Done:
        """Send `line` to a session of `command` on `host` (kept open, reused) and return
        its one line of answer as stdout; status None when no answer came (unknown).
        `heartbeat`: `command` takes a blank line as a heartbeat and answers none (the
        agent's `--serve --idle`): idle, it is sent one every runtime.keepalive."""
        limit = timeout if timeout is not None else self.options.command_timeout
        return self._call(self._ask(host, command, line, limit, heartbeat), limit + 5)

    def stream(self, host: str, command: str, line: str, on_output: Callable[[bytes], None],
               *, timeout: float) -> Done:
        """Run `command` on `host`, send it `line` and keep its stdin open (its end tells the
        command the caller went away), handing its stdout to `on_output` as it comes (on
        the connections' thread); Done(status, "", its stderr). No end within `timeout`:
        status None (unknown), and the connection dropped, which ends its stdin."""
        return self._call(self._stream(host, command, line, on_output, timeout), timeout + 5)

    def attach(self, host: str, command: str, line: str, on_output: Callable[[bytes], None],
               *, stdin: int, term: LocalTerminal | None, timeout: float) -> Done:
        """`stream`, `stdin`'s data following `line`; with `term` (this terminal) a pseudo-
        terminal there, its output one stream (hosts/console.py)."""
        async def work(conn) -> Done:
            done, err = await attach(conn, command, line, on_output, stdin, term)
            return Done(exit_status(done), "", as_text(err))
        return self._call(self._command(host, timeout, work), timeout + 5)

    def connect(self, host: str) -> None:
        """Open `host`'s connection now (pre-flight); HostUnreachable names why not."""
        self._call(self._connection(host), self.options.connect_timeout + 5)

    def connect_all(self, names: Sequence[str] | None = None
                    ) -> dict[str, HostUnreachable | None]:
        """Open every host's connection at once (of `names`, else of every host known); per
        host the error, or None."""
        async def each(name: str):
            try:
                await self._connection(name)
                return None
            except HostUnreachable as e:
                return e

        async def every():
            hosts = list(self.specs) if names is None else list(names)
            return dict(zip(hosts, await asyncio.gather(*(each(n) for n in hosts))))
        return self._call(every(), self.options.connect_timeout + 5)

    def peer_address(self, host: str) -> str:
        """The address `host`'s connection reached (its HostName resolved): how this
        machine, where the load balancer runs, reaches the host. Recorded as the connection
        opened: one that closed since (the host went) still says where the host is, so once
        known it is answered without a hop to the loop (each start asks; a hop under load:
        milliseconds)."""
        if (known := self._peers.get(host)) is not None:
            return known

        async def peer():
            await self._connection(host)
            return self._peers[host]
        return self._call(peer(), self.options.connect_timeout + 5)

    def forward_unix(self, host: str, remote_path: str) -> str:
        """A unix socket on this machine whose every connection is a channel to the unix
        socket `remote_path` on `host` (a load balancer's admin socket there:
        hosts/unix_forward.py)."""
        return self._call(self._forwards.local(host, remote_path), 5)

    def close(self) -> None:
        self._forwards.close()
        async def close_all():
            openings = list(self._opening.values())
            for opening in openings:
                opening.cancel()  # an opening no call waits for any more: ended here, on
            await asyncio.gather(*openings, return_exceptions=True)  # the loop still running
            self._idle.close_all()
            for conn in list(self._conns.values()):
                conn.close()
            self._conns.clear()
        if self._loop.is_running():
            self._call(close_all(), 5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def _call(self, coro, timeout: float | None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- on the loop ------------------------------------------------------

    async def _run(self, host: str, command: str, input: str | None, timeout: float) -> Done:
        async def work(conn) -> Done:
            done = await conn.run(command, input=input, check=False)
            return Done(exit_status(done), as_text(done.stdout), as_text(done.stderr))
        return await self._command(host, timeout, work)

    async def _stream(self, host: str, command: str, line: str,
                      on_output: Callable[[bytes], None], timeout: float) -> Done:
        async def work(conn) -> Done:
            process = await conn.create_process(command, encoding=None)
            try:
                process.stdin.write(line.rstrip("\n").encode() + b"\n")

                async def pump() -> None:
                    while data := await process.stdout.read(65536):
                        on_output(data)
                _, err = await asyncio.gather(pump(), process.stderr.read())
                return Done(exit_status(await process.wait(check=False)), "", as_text(err))
            finally:
                process.close()
        return await self._command(host, timeout, work)

    async def _command(self, host: str, timeout: float, work, whole: bool = True) -> Done:
        """`await work(conn)` on a session channel of `host`'s connection, all within
        `timeout` (the connection's and a session's waits count); unknown, the connection
        dropped, when it did not end in time or the connection failed under it. `whole`
        False: `timeout` bounds those waits only, `work` its own progress (an upload)."""
        deadline = self._loop.time() + timeout
        conn = await self._connection(host, timeout)
        if not await self._permit(host, deadline - self._loop.time()):
            return self._busy(host, timeout)
        try:
            if not whole:
                return await work(conn)
            return await asyncio.wait_for(work(conn), deadline - self._loop.time())
        except progress_send.Stalled as e:
            return self._unknown(host, conn, e.said(host))
        except asyncio.TimeoutError:
            return self._unknown(host, conn, f"no answer from {host} within {timeout:g}s")
        except (asyncssh.Error, OSError) as e:
            return self._unknown(host, conn, f"the connection to {host} failed mid-command: "
                                             f"{why(e)}")
        finally:
            self._permits(host).release()

    async def _ask(self, host: str, command: str, line: str, timeout: float,
                   heartbeat: bool = False) -> Done:
        deadline = self._loop.time() + timeout  # one bound: connection, session, answer
        conn = await self._connection(host, timeout)
        process: Any = self._idle.take(host, command, conn)  # (None: none kept)
        kept = process is not None
        if process is None:
            if not await self._permit(host, deadline - self._loop.time()):  # held while open
                return self._busy(host, timeout)
            try:
                process = await asyncio.wait_for(conn.create_process(command),
                                                 deadline - self._loop.time())
            except asyncio.TimeoutError:
                self._permits(host).release()
                return self._unknown(host, conn, f"no session on {host} within {timeout:g}s")
            except (asyncssh.Error, OSError) as e:
                self._permits(host).release()
                return self._unknown(host, conn, f"no session on {host}: {why(e)}")
        try:
            process.stdin.write(line.rstrip("\n") + "\n")
        except (asyncssh.Error, OSError) as e:
            self._idle.discard(host, process)
            if kept:  # nothing sent: the kept session had ended (its agent gone) unseen
                return await self._ask(host, command, line, deadline - self._loop.time(),
                                       heartbeat)
            return self._unknown(host, conn, f"the connection to {host} failed mid-command: "
                                             f"{why(e)}")
        try:
            answer = await asyncio.wait_for(process.stdout.readline(),
                                            max(deadline - self._loop.time(), 0.001))
        except asyncio.TimeoutError:
            self._idle.discard(host, process)
            return self._unknown(host, conn, f"no answer from {host} within {timeout:g}s")
        except (asyncssh.Error, OSError) as e:
            self._idle.discard(host, process)
            return self._unknown(host, conn, f"the connection to {host} failed mid-command: "
                                             f"{why(e)}")
        if not answer.endswith("\n"):
            ended = await self._ended(host, process, timeout)
            self._idle.discard(host, process)
            return ended
        self._idle.keep(host, command, conn, process, heartbeat)
        return Done(0, answer, "")

    def _permits(self, host: str) -> asyncio.Semaphore:
        return self._sessions.setdefault(host, asyncio.Semaphore(SESSIONS))

    async def _permit(self, host: str, timeout: float) -> bool:
        """A session channel on `host` may open: below SESSIONS open ones (idle `ask`
        sessions count; one of another command is closed to make room). False when none
        freed within `timeout`: the call must not wait behind hung ones for ever."""
        permits = self._permits(host)
        if permits.locked():
            self._idle.make_room(host)
        try:
            await asyncio.wait_for(permits.acquire(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def _busy(self, host: str, timeout: float) -> Done:
        """Never sent, yet not success: the host's sessions are all taken by calls that
        have not answered, which is the host's matter (their own timeouts drop it)."""
        return Done(None, "", f"no free session on {host} within {timeout:g}s: its "
                              f"{SESSIONS} sessions are busy with calls not answered yet")

    async def _ended(self, host: str, process, timeout: float) -> Done:
        """A session that closed its output without a whole answer: how it ended."""
        try:
            done = await asyncio.wait_for(process.wait(check=False), min(timeout, 5))
        except (asyncio.TimeoutError, asyncssh.Error, OSError):
            process.close()
            return Done(None, "", f"the session on {host} ended without an answer")
        return Done(exit_status(done) or None, "", as_text(done.stderr) or  # exit 0: no answer either
                    f"the session on {host} ended without an answer")

    async def _connection(self, host: str, within: float | None = None):
        """`host`'s open connection, waited for at most `within` seconds (a call's own bound)
        while one opening per host goes on by itself, up to runtime.connect_timeout."""
        conn = self._conns.get(host)
        if conn is not None and not conn.is_closed():
            return conn
        opening = self._opening.get(host)
        joined: float | None = self._loop.time()
        if opening is None:
            opening = self._opening[host] = self._loop.create_task(self._opened(host))
            opening.add_done_callback(lambda task: self._opened_done(host, task))
            joined = None
        if within is None:
            return await asyncio.shield(opening)
        try:
            return await asyncio.wait_for(asyncio.shield(opening), max(within, 0.001))
        except asyncio.TimeoutError:
            raise HostUnreachable(f"host {host}: no SSH connection within {within:g}s (this "
                                  f"call's timeout; it is still being opened, up to "
                                  f"{self.options.connect_timeout:g}s: "
                                  f"runtime.connect_timeout)", host) from None
        except ConnectTimedOut:
            if joined is None:  # this call's own opening: its words are this call's
                raise
            raise HostUnreachable(  # one begun before it: this call did not wait that long
                f"host {host}: no SSH connection (an opening begun before this call gave up "
                f"at runtime.connect_timeout, {self.options.connect_timeout:g}s, "
                f"{self._loop.time() - joined:.1f}s into this call's own {within:g}s)",
                host) from None

    async def _opened(self, host: str):
        async with self._starts.setdefault(host, asyncio.Semaphore(MAX_STARTS)):
            conn = await self._open(host)
        peer = conn.get_extra_info("peername")
        if peer is None:  # lost between its set-up and here: no address to record
            conn.abort()
            raise HostUnreachable(f"host {host}: its SSH connection closed as it opened", host)
        self._peers[host] = peer[0]
        self._conns[host] = conn
        return conn

    def _opened_done(self, host: str, task: asyncio.Task) -> None:
        """An opening ended: the next call opens anew if it failed. Its error is taken here
        too, so one whose callers all stopped waiting is not logged as never retrieved."""
        if self._opening.get(host) is task:
            del self._opening[host]
        if not task.cancelled():
            task.exception()

    async def _open(self, name: str):
        spec = self.specs.get(name)
        if spec is None:
            raise HostUnreachable(f"host {name!r} is not in runtime.hosts "
                                  f"({', '.join(self.specs)})", name)
        self.agents.pop(name, None)
        return await open_connection(name, spec, self.options, self.folder)

    def _unknown(self, host: str, conn, why: str) -> Done:
        """The command (or request) may still run: its outcome is unknown, its connection
        dropped, so the next one opens a fresh one."""
        self._drop(host, conn)
        return Done(None, "", why)

    def _drop(self, host: str, conn) -> None:
        if self._conns.get(host) is conn:
            del self._conns[host]
        conn.abort()
