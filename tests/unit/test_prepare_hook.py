"""A before_start hook with `per_host: true`: its config (only at before_start, a command,
runtime: ssh with app.release), how run_hooks hands it to the runtime, and what runs it on a
host (zerodown/hosts/releases.py, stdlib: run here on a temp folder)."""

from __future__ import annotations

import json
import time

import pytest

from zerodown.config import parse_config
from zerodown.errors import ConfigError, RuntimeFailure
from zerodown.hooks import HookContext, HookResult, Hooks, HookSpec, require
from zerodown.hooks import HookFailed, run_hooks
from zerodown.hosts.releases import MANIFEST, PREPARED, run_prepare_hook
from zerodown.runtimes.ssh_release import _host_result

FLEET = """\
service: shop
listen: 127.0.0.1:8080
instances: 2
app: {command: python3 app.py, release: "releases/{version}"}
runtime: {kind: ssh, hosts: [app1, app2]}
"""
HOOK = """\
hooks:
  before_start:
    - command: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
      per_host: true
      timeout: 5m
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(text, file="zerodown.yaml")
    return [str(err) for err in e.value.errors]


def test_a_per_host_hook_parses_with_the_ssh_runtime_and_a_release():
    [spec] = parse_config(FLEET + HOOK).hooks.before_start
    assert spec.per_host and spec.timeout == 300


@pytest.mark.parametrize("change, expected", [
    ((HOOK, HOOK.replace("before_start", "after_healthy")),
     "zerodown.yaml:9: hooks.after_healthy[0].per_host: runs on every host before the version "
     "starts there: only at before_start"),
    (("runtime: {kind: ssh, hosts: [app1, app2]}\n", ""),
     "zerodown.yaml:6: hooks.before_start: per_host: true runs on each host of runtime: ssh; "
     "runtime local has no hosts of its own (leave per_host out)"),
    ((', release: "releases/{version}"', ""),
     "zerodown.yaml:7: hooks.before_start: per_host: true runs on each host of runtime: ssh; "
     "it needs app.release (e.g. releases/{version}): the folder it runs in there"),
    (("    - command: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt\n",
      "    - http: http://127.0.0.1:9/x\n"),
     "zerodown.yaml:9: hooks.before_start[0].per_host: applies to command hooks only "
     "(this hook has http)"),
])
def test_a_per_host_hook_where_it_cannot_run_is_refused_naming_why(change, expected):
    assert errors_of((FLEET + HOOK).replace(*change)) == [expected]


CTX = HookContext("shop", 7, "before_start", 2, "v2", 1, 1, "run before_start hooks",
                  "http://127.0.0.1:8080")


def test_run_hooks_hands_per_host_hooks_to_the_runtime_and_stops_at_a_hosts_failure():
    here, hosts, later = (HookSpec(command="true"), HookSpec(command="./venv.sh", per_host=True),
                          HookSpec(command="true", name="never"))
    asked, heard = [], []

    def on_hosts(spec, ctx):
        asked.append((spec, ctx.moment, ctx.version))
        return [HookResult(True, 0.1, "app1: ./venv.sh exited 0"),
                HookResult(False, 0.1, "app2: ./venv.sh exited 3")]
    results = run_hooks(Hooks(before_start=(here, hosts, later)), "before_start", CTX,
                        on_result=heard.append, on_hosts=on_hosts)
    assert asked == [(hosts, "before_start", "v2")]
    assert [r.summary for r in heard][1:] == ["app1: ./venv.sh exited 0",
                                             "app2: ./venv.sh exited 3"]
    assert len(results) == 3   # the hook after the failure did not run
    with pytest.raises(HookFailed, match="before_start hook app2: ./venv.sh exited 3"):
        require(results, "before_start")
    [alone] = run_hooks(Hooks(before_start=(hosts,)), "before_start", CTX)
    assert not alone.ok and "per_host needs runtime: ssh" in alone.summary


def alive(pid: int) -> bool:
    """Running, not a zombie an unreaping init holds (the child was orphaned, then killed)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False


@pytest.fixture
def release(tmp_path):
    folder = tmp_path / "v2"
    folder.mkdir()
    (folder / MANIFEST).write_text("{}")
    return folder


def test_a_hosts_hook_runs_once_per_release_marked_only_when_it_passed(release, tmp_path):
    count = tmp_path / "count"
    argv = ["/bin/sh", "-c", f'echo run >> {count}; echo "built $ZERODOWN_VERSION"; '
                             f'test -e {tmp_path}/ok']
    got = run_prepare_hook(str(release), "k1", argv, ".", {"ZERODOWN_VERSION": "v2"}, 10)
    assert (got["ran"], got["ok"], got["code"]) == (True, False, 1)
    assert not (release / (PREPARED + "k1")).exists(), "a failed hook runs again next time"
    (tmp_path / "ok").touch()
    got = run_prepare_hook(str(release), "k1", argv, ".", {"ZERODOWN_VERSION": "v2"}, 10)
    assert got["ok"] and got["output"] == "built v2\n"
    assert json.loads((release / (PREPARED + "k1")).read_text())["argv"] == argv
    again = run_prepare_hook(str(release), "k1", argv, ".", {}, 10)
    assert (again["ran"], again["ok"]) == (False, True)
    assert count.read_text().count("run") == 2
    other = run_prepare_hook(str(release), "k2", argv, ".", {}, 10)  # a changed hook: runs
    assert other["ran"] and count.read_text().count("run") == 3


def test_a_hosts_hook_past_its_timeout_is_killed_with_its_children(release, tmp_path):
    pids = tmp_path / "pids"
    argv = ["/bin/sh", "-c", f"sleep 60 & echo $! > {pids}; echo started; wait"]
    started = time.monotonic()
    # 2 s, not less: on a loaded 2-core machine the shell took over 0.5 s to write its
    # "started" and the child's pid (a CI-like run failed so); the kill is what is tested.
    got = run_prepare_hook(str(release), "k", argv, ".", {}, 2)
    assert time.monotonic() - started < 8
    assert (got["ran"], got["ok"], got["code"]) == (True, False, None)
    assert got["output"] == "started\n"
    child = int(pids.read_text())
    assert not alive(child), "the hook's child outlived the timeout"
    result = _host_result("app1", HookSpec(command="x", timeout=2, per_host=True), "v2", got)
    assert result.summary == ("app1: x timed out after 2s (its process group was killed)"
                              "\napp1| started")


def test_a_release_that_is_not_there_is_an_error_not_a_run(tmp_path):
    with pytest.raises(RuntimeFailure, match="is not on this host"):
        run_prepare_hook(str(tmp_path / "v9"), "k", ["true"], ".", {}, 10)
