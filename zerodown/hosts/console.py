"""A command on a host given this machine's stdin (`zerodown exec -i`), as `ssh -t` does:
with a terminal here, a pseudo-terminal there, this one raw while it runs.

    with LocalTerminal(0) as term:   # raw mode (restored after, on an error and Ctrl-C too)
        done = connections.attach("app1", command, request_line, show, stdin=0, term=term,
                                  timeout=3600)

Raw mode hands every key over as its byte: Ctrl-C is \\x03 here, the SIGINT of the
program in the foreground there (its terminal's line discipline makes it). The far
terminal is asked for with this one's TERM and size, and told each new size (SIGWINCH
here, window-change there). Its echo and line editing are asked for off, so the request
line sent first is neither shown nor cut at a terminal line's length: the runner there
(hosts/one_off.py) puts them back on before the command starts. Without a terminal here
(`echo 'puts 1' | zerodown exec -i ...`) no pseudo-terminal is asked for: stdin is
forwarded as it is, its end the command's stdin's end.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import termios
import threading
import tty
from typing import Any, Callable

import asyncssh

HIDDEN = {asyncssh.PTY_ECHO: 0, asyncssh.PTY_ICANON: 0}  # the far terminal's modes at first


class LocalTerminal:
    """This machine's terminal `fd`, raw inside `with`; its size, and its changes."""

    def __init__(self, fd: int):
        self.fd = fd
        self.kind = os.environ.get("TERM") or "xterm"
        self._saved: list | None = None
        self._old_handlers: dict[int, Any] = {}
        self._resized: Callable[[tuple[int, int]], None] | None = None

    def size(self) -> tuple[int, int]:
        """(columns, rows)."""
        size = os.get_terminal_size(self.fd)
        return size.columns, size.lines

    def on_resize(self, call: Callable[[tuple[int, int]], None] | None) -> None:
        self._resized = call

    def __enter__(self) -> "LocalTerminal":
        self._saved = termios.tcgetattr(self.fd)
        # main thread only; SIGTERM and SIGHUP end us by an exception, so the terminal is
        # put back on the way out (their default would leave it raw)
        self._old_handlers = {sig: signal.signal(sig, handler) for sig, handler in (
            (signal.SIGWINCH, self._winch), (signal.SIGTERM, _end), (signal.SIGHUP, _end))}
        tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:  # (saved by __enter__)
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)

    def _winch(self, *_) -> None:
        if self._resized is not None:
            self._resized(self.size())


def _end(sig: int, _) -> None:
    raise SystemExit(128 + sig)  # a shell's code for a command a signal ended


async def attach(conn, command: str, line: str, on_output: Callable[[bytes], None],
                 stdin: int, term: LocalTerminal | None) -> tuple[Any, bytes]:
    """Run `command` on `conn`, send it `line`, then `stdin`'s data; its stdout to
    `on_output` as it comes. (its asyncssh completed process, its stderr)."""
    loop = asyncio.get_running_loop()
    far = {} if term is None else {"term_type": term.kind, "term_size": term.size(),
                                   "term_modes": HIDDEN}
    process = await conn.create_process(command, encoding=None, **far)
    stop, stopped = os.pipe()
    # its sends wait for this loop, so `line` is written first
    threading.Thread(target=_forward, args=(stdin, stop, loop, process), daemon=True,
                     name="exec stdin").start()
    try:
        process.stdin.write(line.rstrip("\n").encode() + b"\n")
        if term is not None:
            def resized(size: tuple[int, int]) -> None:
                loop.call_soon_threadsafe(process.change_terminal_size, *size)
            term.on_resize(resized)

        async def pump() -> None:
            while data := await process.stdout.read(65536):
                on_output(data)
        _, err = await asyncio.gather(pump(), process.stderr.read())
        return await process.wait(check=False), err
    finally:
        os.close(stopped)  # the forwarding thread sees its end and returns
        if term is not None:
            term.on_resize(None)
        process.close()


def _forward(fd: int, stop: int, loop: asyncio.AbstractEventLoop, process) -> None:
    """`fd`'s data to the process's stdin, each write drained before the next read (a
    big input is not all held in memory), until its end, `stop`'s end or the channel's."""
    async def send(data: bytes) -> None:
        if data:
            process.stdin.write(data)
            await process.stdin.drain()
        else:
            process.stdin.write_eof()
    watch = select.poll()  # not select(): it refuses an fd past 1023
    watch.register(fd, select.POLLIN)
    watch.register(stop, select.POLLIN)
    try:
        while stop not in {ready for ready, _ in watch.poll()}:
            data = os.read(fd, 65536)
            asyncio.run_coroutine_threadsafe(send(data), loop).result()
            if not data:
                return
    except Exception:  # noqa: BLE001 - any: the channel (or the loop) closed, it is over
        return
    finally:
        os.close(stop)
