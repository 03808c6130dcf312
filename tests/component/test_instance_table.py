"""The instance registry (zerodown/hosts/instances.py): claim() saves the intent, launch()
writes the pid once after the spawn, and an instance spawned before its pid was written
is found again by its marks — adopted, never started twice."""

from __future__ import annotations

import os
import sys

from zerodown.hosts import instances
from zerodown.hosts.instances import MARK_INSTANCE, MARK_STATE, InstanceTable
from zerodown.hosts.local import spawn, terminate

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
RECORD = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local"}


def test_launch_writes_the_registry_once_after_the_claims_intent(tmp_path, monkeypatch):
    table = InstanceTable(tmp_path)
    assert "port" in table.claim("shop-r1-s0", RECORD, "127.0.0.1")
    saved = []
    save = instances.Registry.save
    monkeypatch.setattr(instances.Registry, "save",
                        lambda self, entries: saved.append(dict(entries)) or save(self, entries))
    entry = table.launch("shop-r1-s0", SLEEPER, str(tmp_path), {}, "test")
    try:
        assert [e["shop-r1-s0"]["pid"] for e in saved] == [entry["pid"]], \
            "one write (a sync of the disk) before the pid is known is the claim's"
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
        again = InstanceTable(tmp_path).claim("shop-r1-s0", RECORD, "127.0.0.1")
        assert again["live"]["pid"] == proc.pid, "found by its marks: not started twice"
        assert [e["pid"] for e in InstanceTable(tmp_path).adopt("shop")] == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
