"""A load run in its own thread and event loop, for synchronous tests and the demo."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Self

from zerodown.loadgen.result import LoadResult
from zerodown.loadgen.run import new_event_loop, run_load


class LoadHandle:
    """What a test holds while a load runs elsewhere: `progress()`, `unguarded()`,
    `running` and `stop()` are the subclass's; waiting and the `with` block are the same
    for every kind."""

    error: BaseException | None = None
    result: LoadResult | None = None

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def progress(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def unguarded(self) -> int:
        """Requests in flight now that no retry would save if their connection were cut
        (LoadResult.unguarded)."""
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> LoadResult:
        raise NotImplementedError

    def wait_for_responses(self, n: int, timeout: float = 10.0) -> None:
        """Block until at least n requests have been answered or failed."""
        deadline = time.monotonic() + timeout
        while self.progress()[0] < n:
            if not self.running:
                raise RuntimeError(f"load ended after {self.progress()[0]} of {n} requests "
                                   f"awaited: {self.error or self.result}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"load sent only {self.progress()[0]} of {n} requests "
                                   f"within {timeout:g}s")
            time.sleep(0.005)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info):
        if exc_info[0] is None:
            self.stop()
        else:   # stop, but do not hide the test's own exception
            try:
                self.stop()
            except Exception:
                pass


class LoadInBackground(LoadHandle):
    """run_load in its own thread and event loop, for synchronous tests.

        with LoadInBackground(url, connections=8) as load:
            load.wait_for_responses(200)
            ...deploy...
        assert load.result.failed() == 0

    Never runs past `max_duration` seconds (default 120) even if nobody stops it.
    """

    def __init__(self, url: str, *, max_duration: float = 120.0, **kwargs):
        self.url = url
        self.kwargs = kwargs
        duration = kwargs.pop("duration", None)
        self.duration = max_duration if duration is None else min(duration, max_duration)
        self.timeout = kwargs.get("timeout", 10.0)
        self.result: LoadResult | None = None
        self.error: BaseException | None = None
        self._live = LoadResult()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="loadgen", daemon=True)

    def start(self) -> "LoadInBackground":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loadgen thread did not start within 10s")
        if self.error is not None:   # e.g. a bad URL: say so now, not at stop()
            raise self.error
        return self

    def _main(self):
        loop = new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        except BaseException as e:  # handed to the caller in stop()
            self.error = e
        finally:
            self._ready.set()
            loop.close()

    async def _run(self):
        self._stop = asyncio.Event()
        task = asyncio.ensure_future(run_load(
            self.url, duration=self.duration, stop=self._stop, into=self._live,
            **self.kwargs))
        await asyncio.sleep(0)   # its checks (the URL, the bounds) run before start() returns
        if not task.done():
            self._ready.set()
        self.result = await task

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> tuple[int, int, int]:
        """(sent, ok, failed) so far, read from another thread; approximate while running."""
        r = self._live
        return r.sent, r.ok, r.sent - r.ok

    def unguarded(self) -> int:
        return self._live.unguarded

    def stop(self) -> LoadResult:
        """Stop sending, wait for requests in flight, and return the result."""
        if self._thread.ident is None:
            raise RuntimeError("LoadInBackground.stop() before start()")
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass   # the loop closed in between: the run is over anyway
        self._thread.join(self.timeout * 2 + 10)
        if self._thread.is_alive():
            raise RuntimeError("loadgen thread did not stop")
        if self.error is not None:
            raise self.error
        assert self.result is not None  # (the run sets its result or its error)
        return self.result
