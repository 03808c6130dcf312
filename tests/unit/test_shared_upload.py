"""One compressed copy per set of missing files, read by every host lacking that set
(zerodown/hosts/shared_upload.py): a release to N hosts lacking the same files was
compressed N times (a core per 15 MB/s each); a host lacking another set still gets
exactly its files, and a file unreadable mid-copy fails every send of it, naming it."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from tests.support.compressed import count_compressed
from zerodown.errors import RuntimeFailure
from zerodown.hosts.shared_upload import SharedUploads
from zerodown.hosts.tar_stream import TarStream

MB = 1 << 20


@pytest.fixture
def compressed(monkeypatch) -> list[int]:
    return count_compressed(monkeypatch)


def received(source, into) -> subprocess.CompletedProcess:
    """What a host's `tar -xz` makes of a send's chunks (read in a thread: hosts at once)."""
    into.mkdir()
    tar = subprocess.Popen(["tar", "-xz", "-C", str(into)], stdin=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    last = 0
    for data, done in source:
        tar.stdin.write(data)
        last = done
    tar.stdin.close()
    assert last == source.total
    return subprocess.CompletedProcess(tar.args, tar.wait(), b"", tar.stderr.read())


def release(tmp_path):
    src = tmp_path / "release"
    files = {"app.py": b"print('v2')\n" * 1000, "lib/venv.txt": b"import os\n" * (MB // 2),
             "weights.bin": os.urandom(2 * MB), "old.py": b"kept\n"}
    for path, data in files.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    return src, files


def test_hosts_lacking_the_same_files_share_one_compression_another_set_its_own(
        tmp_path, compressed):
    src, files = release(tmp_path)
    new = ["app.py", "lib/venv.txt", "weights.bin"]   # what 4 hosts lack
    other = ["old.py", "app.py"]                      # what a fifth one lacks
    wanted = [new] * 4 + [other]
    with SharedUploads(str(tmp_path / "state")) as uploads:
        sources = [uploads.reader(TarStream(str(src), paths)) for paths in wanted]
        results: dict[int, subprocess.CompletedProcess] = {}
        threads = [threading.Thread(target=lambda i=i, s=s: results.__setitem__(
            i, received(s, tmp_path / f"host{i}"))) for i, s in enumerate(sources)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    for i, paths in enumerate(wanted):
        assert results[i].returncode == 0, results[i].stderr
        got = sorted(str(p.relative_to(tmp_path / f"host{i}"))
                     for p in (tmp_path / f"host{i}").rglob("*") if p.is_file())
        assert got == sorted(paths), i   # exactly its files
        for path in paths:
            assert (tmp_path / f"host{i}" / path).read_bytes() == files[path], (i, path)
    once = sum(len(files[p]) for p in new) + sum(len(files[p]) for p in other)
    assert sum(compressed) == once, (f"{sum(compressed) / MB:.1f} MB compressed for "
                                     f"{once / MB:.1f} MB of distinct sets")
    assert os.listdir(tmp_path / "state") == []   # the copies had no name: nothing left


def test_a_host_joining_after_the_copy_was_made_reads_it_whole(tmp_path, compressed):
    src, files = release(tmp_path)
    with SharedUploads(str(tmp_path / "state")) as uploads:
        first = received(uploads.reader(TarStream(str(src), ["weights.bin"])), tmp_path / "a")
        late = received(uploads.reader(TarStream(str(src), ["weights.bin"])), tmp_path / "b")
    assert first.returncode == late.returncode == 0, (first.stderr, late.stderr)
    assert (tmp_path / "b/weights.bin").read_bytes() == files["weights.bin"]
    assert sum(compressed) == 2 * MB


def test_a_file_unreadable_mid_copy_fails_each_send_naming_it(tmp_path):
    src, _ = release(tmp_path)
    stream = TarStream(str(src), ["app.py", "old.py"])
    (src / "old.py").unlink()   # gone after the sizes were taken, before it is read
    with SharedUploads(str(tmp_path / "state")) as uploads:
        for source in (uploads.reader(stream), uploads.reader(stream)):
            with pytest.raises(RuntimeFailure, match=r"release file .*/old.py could not be "
                                                     r"read: No such file"):
                list(source)


def test_closed_the_copy_stops_and_a_send_still_reading_ends(tmp_path):
    src, _ = release(tmp_path)
    uploads = SharedUploads(str(tmp_path / "state"))
    chunks = iter(uploads.reader(TarStream(str(src), ["weights.bin"])))
    next(chunks)
    uploads.close()   # every send ended (one cut off mid-way): its next asks get nothing
    assert next(chunks, None) is None
