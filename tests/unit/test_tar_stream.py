"""A release's upload made a chunk at a time (zerodown/hosts/tar_stream.py): what the host's
own `tar -xz` unpacks is the files, byte for byte, whatever their names; the
chunks are small and count the files' bytes; memory stays a chunk's, not the release's
(it was one tar.gz and its base64 in memory, ~2.3x the release, per host). Sent raw now:
an SSH channel without a terminal carries any byte, and base64 added a third."""

from __future__ import annotations

import os
import subprocess
import tracemalloc

import pytest

from zerodown.errors import RuntimeFailure
from zerodown.hosts.progress_send import Fed
from zerodown.hosts.tar_stream import LEVEL, TarStream, _level

MB = 1 << 20


def unpacked(stream: TarStream, into) -> subprocess.CompletedProcess:
    into.mkdir()
    tar = subprocess.Popen(["tar", "-xz", "-C", str(into)],
                           stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    for data, _ in stream:
        tar.stdin.write(data)
    tar.stdin.close()
    return subprocess.CompletedProcess(tar.args, tar.wait(), b"", tar.stderr.read())


def test_what_tar_unpacks_on_the_host_is_the_files_and_their_modes(tmp_path):
    src = tmp_path / "release"
    long_dir = "d" * 120  # past ustar's 100 characters: a PAX header
    files = {"app.py": b"print('hi')\n", "empty": b"", f"{long_dir}/n\u00e9.bin": os.urandom(70000),
             "weights.bin": os.urandom(MB + 5),  # big, not compressible: stored
             "lib/deep/x.txt": b"x" * (3 * 65536 + 1)}
    for path, data in files.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    (src / "app.py").chmod(0o750)
    (src / "link.txt").symlink_to(src / "lib/deep/x.txt")  # sent as the file it names
    stream = TarStream(str(src), [*files, "link.txt"])
    assert stream.total == sum(map(len, files.values())) + len(files["lib/deep/x.txt"])
    done = unpacked(stream, tmp_path / "host")
    assert done.returncode == 0, done.stderr
    for path, data in {**files, "link.txt": files["lib/deep/x.txt"]}.items():
        assert (tmp_path / "host" / path).read_bytes() == data, path
    assert not (tmp_path / "host/link.txt").is_symlink()
    assert (tmp_path / "host/app.py").stat().st_mode & 0o777 == 0o750


def test_chunks_are_small_count_the_files_bytes_and_hold_no_more_than_one(tmp_path):
    (tmp_path / "blob").write_bytes(os.urandom(16 * MB))
    stream = TarStream(str(tmp_path), ["blob"])
    tracemalloc.start()
    try:
        biggest, last = 0, 0
        for data, done in stream:
            biggest, last = max(biggest, len(data)), done
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert last == stream.total == 16 * MB
    assert biggest < 200_000, biggest
    assert peak < 2 * MB, f"{peak / MB:.1f} MB held to stream 16 MB"


def test_a_file_gone_is_refused_naming_it(tmp_path):
    with pytest.raises(RuntimeFailure, match=r"release file .*/gone could not be read: No such"):
        TarStream(str(tmp_path), ["gone"])


def test_a_stall_counts_in_the_files_bytes_by_the_ratio_written():
    fed = Fed()
    fed.add(b"x" * 400, 800)   # gzip: 1 byte written for 2 of the files'
    assert fed.source(200) == 400
    assert Fed().source(0) == 0


@pytest.mark.parametrize("data, level", [
    (os.urandom(2 * MB), 0),            # weights, a wheel: stored
    (b"import os\n" * (MB // 5), LEVEL),  # text: compressed
    (os.urandom(MB // 2), LEVEL),       # small: not looked at (a look per file of many)
])
def test_only_a_big_file_gzip_cannot_shrink_is_stored(tmp_path, data, level):
    (tmp_path / "f").write_bytes(data)
    assert _level(str(tmp_path / "f")) == level


def test_a_stored_file_costs_its_size_and_little_more(tmp_path):
    (tmp_path / "a.txt").write_text("x" * 10000)
    (tmp_path / "w.bin").write_bytes(os.urandom(4 * MB))
    sent = sum(len(d) for d, _ in TarStream(str(tmp_path), ["a.txt", "w.bin", "a.txt"]))
    assert 4 * MB < sent < 4 * MB * 1.01, sent   # no base64: a third less than before
