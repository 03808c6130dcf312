"""One compressed copy of a release's missing files, read by every host that lacks them.

    with SharedUploads(state_folder) as uploads:     # one per upload to the fleet
        source = uploads.reader(TarStream(folder, missing))   # a host's send reads this
        connections.send(host, command, source, stall=...)    # hosts/progress_send.py

A new version lacks the same files on most hosts; each host's tar.gz was made for it, so
20 hosts cost 20 compressions of the same bytes (zlib ~15 MB/s a core: minutes of a
small CI runner's CPU for a 300 MB virtualenv). Here the first host to ask for a set of
files starts its copy, made once, in a thread of its own, into an unnamed temporary file
in the controller's state folder; every host asking for the same set reads that file
from the start, at its own pace, waiting only where it caught up with the making. A host
lacking another set gets a copy of its own.

Why a file and not one producer feeding every host's send through bounded buffers: the
hosts' links differ, and a buffer bound ties the making, so every host, to the slowest
one (a host on 1 Mbit/s held back nineteen on 1 Gbit/s; one that stalled held them all
for the stall limit). Through a file, memory stays a chunk per host, the making runs at
the compressor's pace, and each send's progress (the stall limit) stays its own host's.
The disk holds the compressed size of each set until the upload ends; the file has no
name (unlinked as it is made), so a controller killed mid-upload leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Iterator

from zerodown.errors import RuntimeFailure
from zerodown.hosts.tar_stream import TarStream

READ = 1 << 16  # bytes of the copy a host's send reads at a time


class SharedUploads:
    """The copies of one upload, by (folder, files): closed, each stops and is dropped."""

    def __init__(self, folder: str):
        self.folder = folder
        self._copies: dict[tuple[str, tuple[str, ...]], Copy] = {}
        self._lock = threading.Lock()

    def reader(self, stream: TarStream) -> Reader:
        """A host's source for `stream`'s files: the copy another host started, or a new one."""
        key = (stream.folder, tuple(stream.paths))
        with self._lock:
            copy = self._copies.get(key)
            if copy is None:
                copy = self._copies[key] = Copy(stream, self.folder)
        return Reader(copy)

    def close(self) -> None:
        with self._lock:
            copies, self._copies = list(self._copies.values()), {}
        for copy in copies:
            copy.close()

    def __enter__(self) -> SharedUploads:
        return self

    def __exit__(self, *_) -> None:
        self.close()


class Copy:
    """A tar.gz being written to an unnamed file by a thread of its own; how far it got."""

    def __init__(self, stream: TarStream, folder: str):
        self.total = stream.total
        try:
            os.makedirs(folder, exist_ok=True)
            self._file = tempfile.TemporaryFile(dir=folder, prefix="upload-")
        except OSError as e:
            raise RuntimeFailure(f"the upload's compressed copy could not be made in "
                                 f"{folder}: {e.strerror or e}") from None
        self.fd, self.where = self._file.fileno(), folder
        self.written = self.done = 0     # the copy's bytes, and the files' bytes they hold
        self.ended = self.closed = False
        self.failed: RuntimeFailure | None = None
        self.changed = threading.Condition()
        self._thread = threading.Thread(target=self._make, args=(stream,), daemon=True,
                                        name="zerodown-upload-copy")
        self._thread.start()

    def _make(self, stream: TarStream) -> None:
        try:
            for data, done in stream:
                if self.closed:
                    return
                _write_all(self.fd, data)
                with self.changed:
                    self.written += len(data)
                    self.done = done
                    self.changed.notify_all()
        except RuntimeFailure as e:  # a release file unreadable: each host's send says it
            self.failed = e
        except OSError as e:
            self.failed = RuntimeFailure(f"the upload's compressed copy in {self.where} could "
                                         f"not be written: {e.strerror or e}")
        finally:
            with self.changed:
                self.ended = True
                self.changed.notify_all()

    def close(self) -> None:
        """Stop the making (every send ended) and let the file go."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self._thread.join()
        self._file.close()


class Reader:
    """One host's send of a copy (progress_send.Source): its chunks as they are made."""

    def __init__(self, copy: Copy):
        self.copy, self.total = copy, copy.total

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        copy, at = self.copy, 0
        while True:
            with copy.changed:
                copy.changed.wait_for(lambda: copy.written > at or copy.ended or copy.closed)
                written, done = copy.written, copy.done
                if copy.closed or (at == written and copy.ended):
                    if copy.failed is not None and not copy.closed:
                        raise copy.failed
                    return
                data = os.pread(copy.fd, min(READ, written - at), at)
            at += len(data)
            # the files' bytes these bring, by the ratio so far (exact where it caught up)
            yield data, round(done * at / written)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
