"""What an upload's compressor took in (zerodown/hosts/tar_stream.py), for the tests that
hold it to once per set of files (hosts/shared_upload.py)."""

from __future__ import annotations

from zerodown.hosts import tar_stream


def count_compressed(monkeypatch) -> list[int]:
    """A list that grows by the files' bytes as tar_stream reads them to compress."""
    taken, real = [], tar_stream._entry

    def counted(folder, path):
        for raw, read in real(folder, path):
            taken.append(read)
            yield raw, read
    monkeypatch.setattr(tar_stream, "_entry", counted)
    return taken
