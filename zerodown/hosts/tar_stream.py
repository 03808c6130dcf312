"""A release's missing files as a tar.gz, made a chunk at a time.

    stream = TarStream(folder, ["app.py", "lib/big.bin"])
    stream.total             # the files' bytes (as stat said): what a stalled send counts in
    for data, done in stream:   # data: tar.gz bytes; done: the files' bytes read so far
        ...

The upload was one tar.gz built in memory, and its base64 beside it, once per host: a
500 MB release took ~1.17 GB of the controller per host at once. Made here as it is
sent, its memory is a chunk and the compressor's state, whatever the release's size; it
is made once for every host that lacks the same files, into a file the hosts' sends read
(hosts/shared_upload.py), and sent as it is (no base64: an SSH channel without a terminal
carries any byte).
The entries are what `tar -xz` on the host reads as tarfile's would be (PAX headers: any
name, any size); a file is read, so a symlink in the release arrives as the file it
names, as the manifest's sha256 was taken (releases.manifest_of). A file that changes
size while it is read is sent at the size its header said (the host's sha256 check then
refuses it as damaged).
"""

from __future__ import annotations

import os
import tarfile
import zlib
from typing import Iterator

from zerodown.errors import RuntimeFailure

READ = 1 << 16     # bytes of a file read at a time
LEVEL = 6          # zlib's default: tarfile's 9 is 3x slower on text for ~4% less
LOOKED_AT = 1 << 20  # a file this big is looked at: sent stored if it does not compress
BLOCK = tarfile.BLOCKSIZE


class TarStream:
    """The chunks of one upload; iterate once (a send pulls them as it goes)."""

    def __init__(self, folder: str, paths: list[str]):
        self.folder, self.paths = folder, list(paths)
        self.total = sum(_size(os.path.join(folder, p)) for p in self.paths)

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        done = 0
        for data, read in self._gzipped():
            done += read
            if data:
                yield data, done

    def _gzipped(self) -> Iterator[tuple[bytes, int]]:
        """(compressed bytes, the files' bytes they took in), the gzip trailer last. A
        file gzip cannot shrink (weights, wheels, media) goes in a member of its own,
        stored: compressed, it took a core per 15 MB/s per host, for nothing (`tar -xz`
        reads the members as one stream)."""
        level, gzip = LEVEL, _member(LEVEL)
        for path in self.paths:
            want = _level(os.path.join(self.folder, path))
            if want != level:
                yield gzip.flush(), 0
                level, gzip = want, _member(want)
            for raw, read in _entry(self.folder, path):
                yield gzip.compress(raw), read
        yield gzip.compress(bytes(2 * BLOCK)) + gzip.flush(), 0  # the archive's end


def _member(level: int):
    return zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip's format


def _level(path: str) -> int:
    """LEVEL, or 0 (stored) for a big file whose start gzip cannot shrink by a tenth."""
    try:
        if os.stat(path).st_size < LOOKED_AT:
            return LEVEL
        with open(path, "rb") as f:
            sample = f.read(READ)
    except OSError:  # _entry says what it is
        return LEVEL
    return 0 if len(zlib.compress(sample, 1)) > 0.9 * len(sample) else LEVEL


def _entry(folder: str, path: str) -> Iterator[tuple[bytes, int]]:
    """One file's header, its content (exactly the size the header says), its padding."""
    full = os.path.join(folder, path)
    try:
        with open(full, "rb") as f:
            info = _info(path, os.fstat(f.fileno()))
            yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), 0
            left = info.size
            while left:
                chunk = f.read(min(READ, left)) or bytes(min(READ, left))  # shrunk: zeros
                left -= len(chunk)
                yield chunk, len(chunk)
    except OSError as e:
        raise RuntimeFailure(f"release file {full} could not be read: "
                             f"{e.strerror or e}") from None
    yield bytes(-info.size % BLOCK), 0


def _info(path: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.size, info.mtime = st.st_size, int(st.st_mtime)
    info.mode, info.uid, info.gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
    return info


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as e:
        raise RuntimeFailure(f"release file {path} could not be read: "
                             f"{e.strerror or e}") from None
