"""The instance registry's journal (zerodown/hosts/registry.py): whatever a crash leaves of
it never starts an instance twice, a torn last line is skipped (and never extended), the
older whole-file format is read and migrated by the first write, an older zerodown
refuses the new format, and the file is rewritten whole when it grows."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time

import pytest

from zerodown.errors import RuntimeFailure
from zerodown.hosts import registry as registry_mod
from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.local import terminate
from zerodown.hosts.registry import HEADER, Registry

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
RECORD = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local"}
ENTRY = {**RECORD, "address": "127.0.0.1:9", "port": 9, "pid": None, "start_time": None}


def old_load(path) -> dict:
    """Registry.load as zerodown had it before the journal (commit a30867e,
    zerodown/hosts/instances.py), verbatim but for `self.path`: what an older agent, or a
    downgraded zerodown, does with the file — every operation of its table starts so."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("instances", {})
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise RuntimeFailure(f"{path}: cannot read the instance registry ({e}); fix "
                             f"or remove it (its running instances are then not adopted)"
                             ) from None


@pytest.fixture
def writes(monkeypatch) -> list[tuple[bytes, int]]:
    """After every save: (the file's bytes, how many of them are durable: synced)."""
    seen = []
    save = Registry.save

    def recording(self, entries, sync=True):
        save(self, entries, sync)
        data = self.path.read_bytes()
        durable = len(data) if sync else (seen[-1][1] if seen else 0)
        seen.append((data, durable))
    monkeypatch.setattr(Registry, "save", recording)
    return seen


def test_whatever_a_crash_leaves_of_a_start_the_instance_is_adopted_not_started_twice(
        tmp_path, writes):
    """A crash keeps what was synced and any part of what was written after (a torn
    line): cut the file at every byte from the intent's sync on, and a restarted
    controller's claim finds the running instance (by its record, or by its marks when
    the pid's record was lost) and its adopt returns it, once."""
    table = InstanceTable(tmp_path)
    entry = table.start("shop-r1-s0", RECORD, "127.0.0.1", SLEEPER, str(tmp_path), {},
                        "t")["started"]
    try:
        (intent, durable), (final, _) = writes
        assert final.startswith(intent) and durable == len(intent), \
            "the intent synced, the pid appended after it without a sync"
        for cut in range(durable, len(final) + 1):
            table.registry.path.write_bytes(final[:cut])
            again = InstanceTable(tmp_path)
            got = again.claim("shop-r1-s0", RECORD, "127.0.0.1")
            assert got.get("live", {}).get("pid") == entry["pid"], f"cut at {cut}: {got}"
            assert [e["pid"] for e in again.adopt("shop")] == [entry["pid"]]
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "sleeper")


def test_a_lost_removal_names_an_ended_process_which_adopt_drops(tmp_path, writes):
    table = InstanceTable(tmp_path)
    entry = table.start("shop-r1-s0", RECORD, "127.0.0.1", SLEEPER, str(tmp_path), {},
                        "t")["started"]
    table.stop("shop-r1-s0", entry["pid"], grace=1, what="sleeper")
    (final, durable) = writes[-1]
    assert durable < len(final), "the removal is not synced"
    for cut in range(durable, len(final) + 1):
        table.registry.path.write_bytes(final[:cut])
        again = InstanceTable(tmp_path)
        assert again.adopt("shop") == [], f"cut at {cut}"
        assert "port" in again.claim("shop-r1-s0", RECORD, "127.0.0.1"), "started anew"


def test_a_torn_last_line_is_skipped_and_never_extended(tmp_path):
    path = tmp_path / "instances.json"
    reg = Registry(path)
    with reg.locked():
        reg.save({"a": ENTRY})
    torn = b'{"instances":{"a":{},"b":'
    with open(path, "ab") as f:
        f.write(torn)  # an append a crash cut short: never acknowledged
    assert Registry(path).load() == {"a": ENTRY}
    with reg.locked() as entries:
        reg.save({**entries, "c": ENTRY})
    assert torn not in path.read_bytes(), "rewritten whole, not glued onto the torn line"
    assert Registry(path).load() == {"a": ENTRY, "c": ENTRY}
    size = path.stat().st_size
    with reg.locked() as entries:
        del entries["a"]
        reg.save(entries, sync=False)
    assert path.stat().st_size > size and Registry(path).load() == {"c": ENTRY}, "appended"


def test_the_older_format_is_read_and_migrated_by_the_first_write(tmp_path):
    path = tmp_path / "instances.json"
    old = json.dumps({"instances": {"shop-r1-s0": {**ENTRY, "pid": 1, "start_time": 1}}},
                     indent=1, sort_keys=True)
    path.write_text(old)
    table = InstanceTable(tmp_path)
    assert set(table.registry.load()) == {"shop-r1-s0"}
    table.versions("shop")
    assert path.read_text() == old, "reading changes nothing: an older zerodown still can"
    assert "port" in table.claim("shop-r1-s1", RECORD, "127.0.0.1")
    text = path.read_text()
    assert text.startswith(HEADER) and len(text.splitlines()) == 2, "rewritten whole"
    assert set(table.registry.load()) == {"shop-r1-s0", "shop-r1-s1"}


def test_an_older_zerodown_refuses_the_journal_and_says_where(tmp_path):
    """An older agent reading the file alone would miss the journal's instances and start
    them again: it must fail on every journal, even one of a single table."""
    path = tmp_path / "instances.json"
    reg = Registry(path)
    with reg.locked():
        reg.save({"shop-r1-s0": ENTRY})
    for _ in range(2):
        with pytest.raises(RuntimeFailure, match=rf"^{path}: cannot read the instance registry"):
            old_load(path)
        with reg.locked() as entries:
            reg.save({**entries, "shop-r1-s1": ENTRY})
    first = path.read_text().splitlines()[0]
    assert "format 2" in first and "older" in first and "upgrade" in first


def test_a_newer_format_is_refused_by_its_number(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(HEADER.replace("format 2", "format 3") + '{"instances":{}}\n')
    with pytest.raises(RuntimeFailure, match=r"instances.json: the instance registry is in "
                                             r"format 3, .* this one reads format 2"):
        Registry(path).load()
    path.write_text("")
    with pytest.raises(RuntimeFailure, match=r"cannot read the instance registry \(the file "
                                             r"is empty\)"):
        Registry(path).load()


def test_the_journal_is_rewritten_whole_when_it_grows(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_mod, "COMPACT_AT", 4096)
    path = tmp_path / "instances.json"
    reg = Registry(path)
    sizes = []
    for i in range(40):
        with reg.locked() as entries:
            entries[f"shop-r1-s{i % 3}"] = {**ENTRY, "port": i}
            reg.save(entries, sync=False)
        sizes.append(path.stat().st_size)
    assert max(sizes) <= 4096 and any(b < a for a, b in zip(sizes, sizes[1:])), sizes
    assert {n: e["port"] for n, e in Registry(path).load().items()} == \
        {"shop-r1-s0": 39, "shop-r1-s1": 37, "shop-r1-s2": 38}


def test_the_lock_is_the_older_formats_lock_file(tmp_path):
    """An older zerodown and this one never write at once (the old one fails to read
    anyway, but its lock is the one it would hold)."""
    path = tmp_path / "instances.json"
    with Registry(path).locked():
        with open(f"{path}.lock", "a") as lock:
            with pytest.raises(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert os.path.exists(f"{path}.lock")


def test_the_lock_is_free_when_released_though_a_forked_child_keeps_its_descriptor(tmp_path):
    """The agent forks a log stamper while it holds the lock (the spawn is under it); the
    child's copy of the lock's descriptor, until it closes it, must not keep the lock."""
    path = tmp_path / "instances.json"
    with Registry(path).locked():
        child = os.fork()
        if child == 0:
            time.sleep(5)  # the stamper, not yet scheduled to close its inherited fds
            os._exit(0)
    try:
        with open(f"{path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if kept
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
