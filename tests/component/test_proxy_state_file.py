"""The proxy's state file (zerodown/proxy/state.py): a process's first save rewrites it
whole (two syncs: the file and its folder), each later one appends a line with one
fdatasync; the last complete line is the table a restarted proxy serves, a torn one
skipped; an older whole-file table still reads."""

from __future__ import annotations

import os

import pytest

from zerodown import table_json
from zerodown.errors import UsageError
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.proxy import state
from zerodown.proxy.state import TableFile, load_table


def table(version: int) -> RoutingTable:
    backend = Backend(f"b{version}", f"127.0.0.1:{8000 + version}")
    return RoutingTable(version, (RevisionRoute(f"r{version}", 100.0, (backend,)),))


@pytest.fixture
def syncs(monkeypatch):
    seen = []
    fsync, fdatasync = os.fsync, os.fdatasync
    monkeypatch.setattr(os, "fsync", lambda fd: seen.append("fsync") or fsync(fd))
    monkeypatch.setattr(os, "fdatasync", lambda fd: seen.append("fdatasync") or fdatasync(fd))
    return seen


def test_the_first_save_rewrites_the_file_later_ones_append_with_one_sync(tmp_path, syncs):
    path = str(tmp_path / "proxy.json")
    saved = TableFile(path)
    saved.save(table(1))
    assert syncs == ["fsync", "fsync"], "the whole file, then its name: the folder"
    for v in (2, 3, 4):
        syncs.clear()
        saved.save(table(v))
        assert syncs == ["fdatasync"], "an append to a file whose name is durable: one sync"
        assert load_table(path) == table(v), "durable before the apply is answered"
    assert len(open(path, "rb").read().splitlines()) == 4
    saved.close()


def test_a_torn_last_line_is_skipped_and_the_next_process_rewrites_the_file(tmp_path, syncs):
    path = str(tmp_path / "proxy.json")
    saved = TableFile(path)
    saved.save(table(1))
    saved.save(table(2))
    saved.close()
    with open(path, "ab") as f:  # a crash in the middle of the third append
        f.write(state.line_of(table(3)).encode()[:40])
    assert load_table(path) == table(2), "the torn table was never acknowledged"
    with open(path, "ab") as f:
        f.write(b"\0" * 64)  # a filesystem that grew the file before the data landed
    assert load_table(path) == table(2)
    again = TableFile(path)
    again.save(table(3))
    again.save(table(4))
    assert open(path, "rb").read() == (state.line_of(table(3)) + state.line_of(table(4))).encode()
    assert load_table(path) == table(4)
    again.close()


def test_a_table_written_whole_before_still_reads_and_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "proxy.json"
    path.write_text(table_json.dumps(table(7), indent=1) + "\n")  # as older versions wrote it
    assert load_table(str(path)) == table(7)
    path.write_text("not a table\n")
    with pytest.raises(UsageError, match="proxy.json: the proxy state file is damaged"):
        load_table(str(path))


def test_a_file_another_process_rewrote_is_not_appended_to(tmp_path, syncs):
    """A handed-over predecessor still holding the old file: its appends would go to a
    name nobody reads any more, so it rewrites the file whole."""
    path = str(tmp_path / "proxy.json")
    old, new = TableFile(path), TableFile(path)
    old.save(table(1))
    new.save(table(2))  # its first save: a whole new file under the same name
    syncs.clear()
    old.save(table(3))
    assert syncs == ["fsync", "fsync"] and load_table(path) == table(3)
    old.close()
    new.close()


def test_past_its_limit_the_journal_is_rewritten_whole(tmp_path, monkeypatch):
    path = str(tmp_path / "proxy.json")
    monkeypatch.setattr(state, "COMPACT_AT", 3 * len(state.line_of(table(1))))
    saved = TableFile(path)
    for v in range(1, 6):
        saved.save(table(v))
        assert os.path.getsize(path) <= state.COMPACT_AT
        assert load_table(path) == table(v)
    saved.close()
