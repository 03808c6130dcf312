"""A before_start hook with `per_host: true` on the real fleet: once per host per version, in the
release folder there, before any instance of that version starts; a failure on one host
stops the deployment before any instance changed, its output in the event log by host."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.stack import Stack
from tests.support import APP
from tests.support.net import free_port
from zerodown.engine.lifecycle import Phase
from zerodown.errors import RuntimeFailure

BASE = "zerodown/releases/shop"
# Counts its runs outside the release (in /srv, per host), refuses on a host named in
# $FAIL_ON, and leaves what an instance could use: a ".venv" built in the release folder.
HOOK = """\
hooks:
  before_start:
    - command: 'echo run >> /srv/prepare-runs; test "$(hostname)" != "$(cat ../fail-on 2>/dev/null)" || { echo "no room on $(hostname)"; exit 3; }; mkdir -p .venv && echo "$ZERODOWN_VERSION" > .venv/built && echo "built $ZERODOWN_VERSION"'
      per_host: true
      timeout: 20s
"""


@pytest.fixture
def stack(healthy_fleet, tmp_path):
    text = healthy_fleet.service_config(free_port(), "{kind: in-place, batch_by: host}",
                                        per_host=1)
    text = text.replace(f'"{APP}"', '"app.py"').replace(
        "  env: {", "  release: releases/{version}\n  env: {") + HOOK
    for version in ("v1", "v2", "v3"):
        folder = tmp_path / "releases" / version
        folder.mkdir(parents=True)
        shutil.copy(APP, folder / "app.py")
    for host in healthy_fleet.hosts:
        shutil.rmtree(host.srv / "zerodown", ignore_errors=True)
        (host.srv / "prepare-runs").unlink(missing_ok=True)
    path = tmp_path / "zerodown.yaml"
    path.write_text(text)
    s = Stack(path, tmp_path / "state")
    yield s
    s.close()


def runs(host) -> int:
    path = host.srv / "prepare-runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_hosts_before_start_hook_runs_once_per_host_and_version(stack, healthy_fleet):
    assert stack.deploy("v1") is Phase.SUCCEEDED
    for host in healthy_fleet.hosts:
        assert (host.srv / BASE / "v1/.venv/built").read_text() == "v1\n"
        assert runs(host) == 1
    said = [e.message for e in stack.store.events("shop", kind="hook.ok")]
    for host in healthy_fleet.hosts:   # every host's outcome and output, prefixed by it
        assert any(m.startswith(f"{host.name}: ") and f"\n{host.name}| built v1" in m
                   for m in said), said
    assert stack.deploy("v1") is Phase.SUCCEEDED   # the same version again: prepared there
    assert [runs(h) for h in healthy_fleet.hosts] == [1, 1, 1]
    assert "passed here before for v1" in stack.store.events("shop", kind="hook.ok")[-1].message


def test_a_failure_on_one_host_stops_the_deployment_before_anything_changed(stack,
                                                                            healthy_fleet):
    assert stack.deploy("v1") is Phase.SUCCEEDED
    before = sorted((i.id, i.pid) for i in stack.runtime.adopt("shop"))
    bad = healthy_fleet.hosts[1]
    (bad.srv / BASE / "fail-on").write_text(bad.name)
    assert stack.deploy("v2") is not Phase.SUCCEEDED
    assert sorted((i.id, i.pid) for i in stack.runtime.adopt("shop")) == before
    failed = [e.message for e in stack.store.events("shop", kind="hook.failed")]
    assert len(failed) == 1 and failed[0].startswith(f"{bad.name}: ")
    assert "exited 3" in failed[0] and f"\n{bad.name}| no room on {bad.name}" in failed[0]
    assert not (bad.srv / BASE / "v2/.venv").exists()
    (bad.srv / BASE / "fail-on").unlink()
    assert stack.deploy("v3") is Phase.SUCCEEDED   # mended
    assert {i.version for i in stack.runtime.adopt("shop")} == {"v3"}


def test_a_host_cut_off_is_refused_in_the_pre_flight_before_any_hook_runs(stack,
                                                                          healthy_fleet):
    assert stack.deploy("v1") is Phase.SUCCEEDED
    cut = healthy_fleet.hosts[2]
    healthy_fleet.partition(cut)
    with pytest.raises(RuntimeFailure, match=rf"nothing was changed:\n  {cut.name}: "):
        stack.deploy("v2")
    healthy_fleet.heal(cut)
    assert [runs(h) for h in healthy_fleet.hosts] == [1, 1, 1]   # v1's runs only
    assert not any((h.srv / BASE / "v2").exists() for h in healthy_fleet.hosts)
