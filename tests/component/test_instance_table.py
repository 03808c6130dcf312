"""The instance registry (zerodown/hosts/instances.py): claim() saves the intent, launch()
writes the pid once after the spawn, and an instance spawned before its pid was written
is found again by its marks — adopted, never started twice."""

from __future__ import annotations

import copy
import os
import re
import sys
import time

import pytest

from zerodown.errors import RuntimeFailure
from zerodown.hosts import instances, local, stamper
from zerodown.hosts.instances import MARK_INSTANCE, MARK_STATE, InstanceTable
from zerodown.hosts.local import spawn, terminate
from tests.support.net import wait_until

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
RECORD = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local"}


def record_saves(monkeypatch) -> list[tuple[dict, bool]]:
    """Every save of the registry from now on: (its table, whether it was synced)."""
    saved = []
    save = instances.Registry.save
    monkeypatch.setattr(instances.Registry, "save", lambda self, entries, sync=True: (
        saved.append((copy.deepcopy(entries), sync)) or save(self, entries, sync)))
    return saved


def test_launch_writes_the_registry_once_after_the_claims_intent(tmp_path, monkeypatch):
    table = InstanceTable(tmp_path)
    assert "port" in table.claim("shop-r1-s0", RECORD, "127.0.0.1")
    saved = record_saves(monkeypatch)
    entry = table.launch("shop-r1-s0", SLEEPER, str(tmp_path), {}, "test")
    try:
        assert [(e["shop-r1-s0"]["pid"], sync) for e, sync in saved] == \
            [(entry["pid"], False)], "one write before the pid is known is the claim's; " \
            "the pid's is not synced (lost, the marks find the process again)"
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "sleeper")


def test_an_instance_spawned_before_its_pid_was_written_is_adopted_not_duplicated(tmp_path):
    table = InstanceTable(tmp_path)
    table.claim("shop-r1-s0", RECORD, "127.0.0.1")
    # the controller dies between the spawn and the pid's write: only the claim is saved
    marks = {MARK_INSTANCE: "shop-r1-s0", MARK_STATE: str(table.state_dir)}
    proc = spawn(SLEEPER, cwd=str(tmp_path), env={**os.environ, **marks},
                 log_path=tmp_path / "x.log", banner="test")
    try:
        # Popen returns once the exec is past its point of no return, which the kernel
        # reaches before it lays out the new environment: a scan at once can read none
        # (CI, under load). A restarted controller comes much later; so does this claim.
        wait_until(lambda: instances.find_marked("shop-r1-s0", str(table.state_dir)),
                   10, "the spawned process's environment")
        again = InstanceTable(tmp_path).claim("shop-r1-s0", RECORD, "127.0.0.1")
        assert again["live"]["pid"] == proc.pid, "found by its marks: not started twice"
        assert [e["pid"] for e in InstanceTable(tmp_path).adopt("shop")] == [proc.pid]
    finally:
        proc.kill()
        proc.wait()


def test_start_claims_and_launches_in_one_call_the_intent_saved_before_the_spawn(
        tmp_path, monkeypatch):
    """What the ssh runtime asks of a host in one round trip: the port chosen there filled
    in for PORT, the intent durable before the spawn, the pid once after."""
    table = InstanceTable(tmp_path)
    spawned = []
    saved, spawn_ = record_saves(monkeypatch), instances.spawn
    monkeypatch.setattr(instances, "spawn",
                        lambda argv, **kw: spawned.append((argv, len(saved))) or spawn_(argv, **kw))
    argv = [sys.executable, "-c",
            "import sys, time; print(sys.argv[1], flush=True); time.sleep(30)",
            f"--port={instances.PORT}"]
    got = table.start("shop-r1-s0", RECORD, "127.0.0.1", argv, str(tmp_path),
                      {"PORT": instances.PORT}, "starting shop-r1-s0")
    entry = got["started"]
    try:
        assert spawned == [(argv[:3] + [f"--port={entry['port']}"], 1)], \
            "spawned with the claimed port, after the intent's one write"
        intent, synced = saved[0]
        assert intent["shop-r1-s0"]["pid"] is None and intent["shop-r1-s0"]["port"] and synced
        assert [(e["shop-r1-s0"]["pid"], sync) for e, sync in saved[1:]] == \
            [(entry["pid"], False)]
        with open(f"/proc/{entry['pid']}/environ", "rb") as f:
            assert f"PORT={entry['port']}".encode() in f.read().split(b"\0")
        again = table.start("shop-r1-s0", RECORD, "127.0.0.1", argv, str(tmp_path), {}, "x")
        assert again == {"live": table.entry("shop-r1-s0")}, "running: never a duplicate"
        log = table.log("shop-r1-s0")
        line = rf"^\d{{4}}-\d\d-\d\dT[\d:.]+ --port={entry['port']}$"
        deadline = time.monotonic() + 10
        while not re.search(line, log.read_text(), re.M) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert re.search(line, log.read_text(), re.M), "the instance's own line, stamped"
        assert f"starting shop-r1-s0: {sys.executable} -c " in log.read_text()
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "sleeper")


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "new interpreter"])
def test_a_stamped_instance_is_started_before_its_log_stamper(tmp_path, monkeypatch, forked):
    """The stamper's own start is not in the way of the instance's (either way it starts:
    zerodown/hosts/stamper.py)."""
    order = []
    popen, fork = local.subprocess.Popen, stamper._fork

    class Recording(popen):
        def __init__(self, args, **kw):
            order.append("stamper" if args[-1] == stamper.STAMPER else "instance")
            super().__init__(args, **kw)
    monkeypatch.setattr(local.subprocess, "Popen", Recording)
    monkeypatch.setattr(stamper, "single_threaded", lambda: forked)
    monkeypatch.setattr(stamper, "_fork", lambda *a: order.append("stamper") or fork(*a))
    proc = local.spawn([sys.executable, "-c", "print('hello')"], cwd=str(tmp_path), env=None,
                       log_path=tmp_path / "x.log", banner="test", stamp=True)
    proc.wait(10)
    assert order == ["instance", "stamper"]
    deadline = time.monotonic() + 10
    while "hello" not in (tmp_path / "x.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert re.search(r"T[\d:.]+ hello$", (tmp_path / "x.log").read_text(), re.M)


def test_a_record_from_before_a_reboot_never_names_a_stranger(tmp_path):
    """After a reboot every process a record named is gone, and its pid and start time
    (ticks since boot) may be a stranger's: the boot id it was written in must be this one."""
    table = InstanceTable(tmp_path)
    stranger = spawn(SLEEPER, cwd=str(tmp_path), env=None, log_path=tmp_path / "s.log",
                     banner="a stranger")
    try:
        entry = {**RECORD, "address": "127.0.0.1:1", "port": 1, "pid": stranger.pid,
                 "start_time": local.start_time(stranger.pid), "boot": "an-earlier-boot"}
        table.registry.save({"shop-r1-s0": entry})
        assert not table.alive("shop-r1-s0", stranger.pid)
        table.stop("shop-r1-s0", stranger.pid, grace=1, what="instance shop-r1-s0")
        assert stranger.poll() is None, "the stranger was not signalled"
        assert table.adopt("shop") == [] and table.registry.load() == {}, "forgotten"
        table.registry.save({"shop-r1-s0": {**entry, "boot": instances.boot_id()}})
        assert table.alive("shop-r1-s0", stranger.pid), "written in this boot: ours"
    finally:
        stranger.kill()
        stranger.wait()


def test_launch_records_the_boot_it_started_in(tmp_path):
    table = InstanceTable(tmp_path)
    got = table.start("shop-r1-s0", RECORD, "127.0.0.1", SLEEPER, str(tmp_path), {}, "t")
    entry = got["started"]
    try:
        assert entry["boot"] == instances.boot_id() and len(entry["boot"]) == 36
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "sleeper")


def test_adopt_writes_the_registry_only_when_it_changed_something(tmp_path, monkeypatch):
    """Every deployment begins with an adopt on each host: with nothing to forget or
    recover it must not rewrite (and sync) the registry; a dead record, or a pid found by
    the marks, is saved at once."""
    table = InstanceTable(tmp_path)
    table.claim("shop-r1-s0", RECORD, "127.0.0.1")
    live = table.launch("shop-r1-s0", SLEEPER, str(tmp_path), {}, "test")
    table.claim("shop-r1-s1", RECORD, "127.0.0.1")  # an intent whose process never ran,
    with table.registry.locked() as entries:        # from longer ago than a launch comes
        entries["shop-r1-s1"]["claimed"][1] -= instances.CLAIM_HOLD + 1
        table.registry.save(entries)
    table.claim("shop-r1-s2", RECORD, "127.0.0.1")
    marks = {MARK_INSTANCE: "shop-r1-s2", MARK_STATE: str(table.state_dir)}
    unwritten = spawn(SLEEPER, cwd=str(tmp_path), env={**os.environ, **marks},
                      log_path=tmp_path / "x.log", banner="test")  # its pid never written
    saved = record_saves(monkeypatch)
    try:
        found = table.adopt("shop")
        assert sorted(e["pid"] for e in found) == sorted([live["pid"], unwritten.pid])
        assert len(saved) == 1 and set(saved[0][0]) == {"shop-r1-s0", "shop-r1-s2"}, \
            "the dead intent dropped and the recovered pid kept, in one write"
        assert saved[0][1] is False, "not synced: lost, both are found again"
        assert table.registry.load()["shop-r1-s2"]["pid"] == unwritten.pid
        assert [e["pid"] for e in table.adopt("shop")] == [live["pid"], unwritten.pid]
        assert table.adopt("other") == []
        assert len(saved) == 1, "nothing changed: no rewrite"
    finally:
        terminate(live["pid"], live["start_time"], 1, "sleeper")
        unwritten.kill()
        unwritten.wait()


def test_a_claim_of_a_running_instance_writes_nothing(tmp_path):
    """Found live, the registry is as it was: no rewrite (it synced the disk each time)."""
    table = InstanceTable(tmp_path)
    entry = table.start("shop-r1-s0", RECORD, "127.0.0.1", SLEEPER, str(tmp_path), {},
                        "t")["started"]
    look = lambda: (lambda st: (st.st_ino, st.st_size, st.st_mtime_ns))(  # noqa: E731
        table.registry.path.stat())
    try:
        before = look()
        assert table.claim("shop-r1-s0", RECORD, "127.0.0.1")["live"]["pid"] == entry["pid"]
        assert look() == before
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "sleeper")


def test_an_adopt_between_a_claim_and_its_launch_keeps_the_claim(tmp_path):
    """`zerodown status` adopts while a deployment starts instances: a claim not launched
    yet is kept (its launch comes a round trip later), so the launch starts the instance
    (it found no record and failed) and only one runs. A claim older than any launch
    comes is dropped, and a launch after that says so, starting nothing."""
    table = InstanceTable(tmp_path)
    port = table.claim("shop-r1-s0", RECORD, "127.0.0.1")["port"]
    assert InstanceTable(tmp_path).adopt("shop") == [], "not running: not adopted"
    entry = table.launch("shop-r1-s0", SLEEPER, str(tmp_path), {}, "test")
    try:
        assert entry["port"] == port and table.alive("shop-r1-s0", entry["pid"])
        assert [e["pid"] for e in InstanceTable(tmp_path).adopt("shop")] == [entry["pid"]]
        with pytest.raises(RuntimeFailure, match=r"shop-r1-s0: launched already \(pid "):
            table.launch("shop-r1-s0", SLEEPER, str(tmp_path), {}, "test")
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "sleeper")
    table.claim("shop-r1-s1", RECORD, "127.0.0.1")
    with table.registry.locked() as entries:
        entries["shop-r1-s1"]["claimed"][1] -= instances.CLAIM_HOLD + 1
        table.registry.save(entries)
    table.adopt("shop")
    with pytest.raises(RuntimeFailure, match=r"shop-r1-s1: its claim on this host is gone .*"
                                             r"nothing was started"):
        table.launch("shop-r1-s1", SLEEPER, str(tmp_path), {}, "test")
    assert table.registry.load() == {}


def test_a_claim_not_launched_yet_keeps_its_port_from_the_next_claim(tmp_path, monkeypatch):
    """Its instance will listen there: the OS saying the port is free now (nothing binds
    it yet) must not give it to another instance."""
    table = InstanceTable(tmp_path)
    first = table.claim("shop-r1-s0", RECORD, "127.0.0.1")["port"]
    taken = []
    free_port = instances.free_port
    monkeypatch.setattr(instances, "free_port",
                        lambda ports, host: taken.append(set(ports)) or free_port(ports, host))
    table.claim("shop-r1-s1", RECORD, "127.0.0.1")
    assert taken == [{first}]


def test_a_claim_looks_for_no_other_instance_before_its_spawn(tmp_path, monkeypatch):
    """The ports of other records are kept from it without asking whether they run: a
    claim left by a crash (no pid) would cost a scan of every process's environment."""
    table = InstanceTable(tmp_path)
    table.claim("shop-r1-s0", RECORD, "127.0.0.1")
    with table.registry.locked() as entries:  # left by a crash long ago
        entries["shop-r1-s0"]["claimed"][1] -= instances.CLAIM_HOLD + 1
        table.registry.save(entries)
    scans = []
    find_marked = instances.find_marked
    monkeypatch.setattr(instances, "find_marked",
                        lambda name, state: scans.append(name) or find_marked(name, state))
    entry = table.start("shop-r1-s1", RECORD, "127.0.0.1", SLEEPER, str(tmp_path), {},
                        "t")["started"]
    try:
        assert scans == [], "no record of its own to complete, none of another's looked for"
        assert entry["port"] != table.registry.load()["shop-r1-s0"]["port"]
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "sleeper")


def test_a_missing_working_directory_is_named_not_the_program(tmp_path):
    """A fleet config kept the starter's `cwd: releases/{version}` without app.release:
    the start said "cannot run 'python3': No such file or directory" of a host that has
    python3 (Popen's ENOENT of the cwd reads as the program's)."""
    table = InstanceTable(tmp_path)
    table.claim("shop-r1-s0", RECORD, "127.0.0.1")
    missing = tmp_path / "releases/v1"
    with pytest.raises(RuntimeFailure, match=rf"instance shop-r1-s0: working directory "
                                             rf"{missing} does not exist here \(app.cwd; "):
        table.launch("shop-r1-s0", SLEEPER, str(missing), {}, "test")
    assert table.entry("shop-r1-s0") is None, "its claim is dropped, as for any failed spawn"
