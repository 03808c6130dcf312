"""Releases on the real fleet: uploaded once per version to every host before anything
changes, unchanged files not sent again, the working directory of the instances there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support import APP
from tests.support.compressed import count_compressed
from tests.support.net import free_port, wait_until
from zerodown.config import parse_config
from zerodown.errors import RuntimeFailure
from zerodown.model import Revision, Slot
from zerodown.runtimes import runtime_for, ssh_release

BASE = "/srv/zerodown/releases/shop"


def with_releases(fleet, tmp_path, data: dict[str, str]) -> tuple[str, object]:
    """A zerodown.yaml (one instance a host, app.release releases/{version}, keep_releases:
    2) and a release folder per version of `data` (the app, and data.txt holding its
    value); no release left on the hosts. Returns the config's text and path."""
    text = fleet.service_config(free_port(), "{kind: rolling}", per_host=1)
    text = text.replace(f'"{APP}"', '"app.py"').replace(
        "  env: {", "  release: releases/{version}\n  env: {").replace(
        "  keepalive: 1s\n", "  keepalive: 1s\n  keep_releases: 2\n")
    path = tmp_path / "zerodown.yaml"
    path.write_text(text)
    for version, value in data.items():
        folder = tmp_path / "releases" / version
        folder.mkdir(parents=True)
        shutil.copy(APP, folder / "app.py")
        (folder / "data.txt").write_text(value)
    for host in fleet.hosts:
        shutil.rmtree(host.srv / "zerodown/releases", ignore_errors=True)
    return text, path


@pytest.fixture
def runtime(healthy_fleet, tmp_path):
    text, path = with_releases(healthy_fleet, tmp_path, {"v1": "one", "v2": "two",
                                                         "v3": "three"})
    rt = runtime_for(parse_config(text, file=str(path)), tmp_path / "state")
    yield rt
    for instance in rt.adopt("shop"):
        rt.stop(instance, grace=1)
    rt.close()


def test_a_release_is_uploaded_once_and_is_the_working_directory(runtime, healthy_fleet,
                                                                 monkeypatch):
    sent = []
    real_tar = ssh_release._tar
    monkeypatch.setattr(ssh_release, "_tar", lambda folder, paths: (sent.append(sorted(paths)),
                                                                    real_tar(folder, paths))[1])
    app = runtime.config.app
    runtime.check_release(app, "v1")
    assert sent == [["app.py", "data.txt"]] * 3   # every file to each of the 3 hosts
    for host in healthy_fleet.hosts:
        assert (host.srv / "zerodown/releases/shop/v1/data.txt").read_text() == "one"
    sent.clear()
    runtime.check_release(app, "v1")
    assert sent == [], "a version complete on a host is not sent again"
    runtime.check_release(app, "v2")
    assert sent == [["data.txt"]] * 3, "app.py is the same: copied on the host, not sent"

    rev = Revision("shop", 2, "v2", app, runtime.config.health)
    instance = runtime.start(rev, Slot(0))
    assert wait_until(lambda: runtime.healthy(instance, rev)[0], timeout=15)
    cwd = healthy_fleet.hosts[0].run(f"readlink /proc/{instance.pid}/cwd").stdout.strip()
    assert cwd == f"{BASE}/v2"

    runtime.check_release(app, "v3")   # keep_releases: 2 -> v1 goes
    assert sorted(p.name for p in (healthy_fleet.hosts[1].srv / "zerodown/releases/shop")
                  .iterdir()) == ["v2", "v3"]


def test_hosts_lacking_the_same_files_share_one_compression(runtime, healthy_fleet,
                                                            monkeypatch, tmp_path):
    """Each host's tar.gz was made for it: 3 hosts lacking the same files cost 3
    compressions of them (20 hosts, 20). One copy per set now; a host lacking another set
    gets exactly its files (hosts/shared_upload.py)."""
    compressed = count_compressed(monkeypatch)
    app, releases = runtime.config.app, tmp_path / "releases"
    size = (releases / "v1/app.py").stat().st_size
    runtime.check_release(app, "v1")
    assert sum(compressed) == size + len("one"), "v1 compressed once for the 3 hosts"
    shutil.rmtree(healthy_fleet.hosts[0].srv / "zerodown/releases/shop/v1")
    compressed.clear()
    runtime.check_release(app, "v2")   # zdf1 lacks app.py too; the others data.txt alone
    assert sum(compressed) == len("two") + (size + len("two")), compressed
    for host in healthy_fleet.hosts:
        for name in ("app.py", "data.txt"):
            assert (host.srv / f"zerodown/releases/shop/v2/{name}").read_bytes() == \
                (releases / "v2" / name).read_bytes(), (host.name, name)
    assert list(runtime.local_state.glob("*upload*")) == []   # no copy left behind


def test_an_upload_that_cannot_reach_a_host_refuses_naming_it(runtime, healthy_fleet):
    healthy_fleet.partition(healthy_fleet.hosts[2])
    with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  zdf3: "):
        runtime.check_release(runtime.config.app, "v1")
    healthy_fleet.heal(healthy_fleet.hosts[2])
    for host in healthy_fleet.hosts:   # the pre-flight refused before any upload began
        assert not (host.srv / "zerodown/releases/shop").exists()


def test_a_version_is_never_changed_on_a_host(runtime, healthy_fleet, tmp_path):
    runtime.check_release(runtime.config.app, "v1")
    (tmp_path / "releases/v1/data.txt").write_text("changed")
    with pytest.raises(RuntimeFailure, match=r"v1 .*other content.*new version"):
        runtime.check_release(runtime.config.app, "v1")


def test_pruning_keeps_a_running_release_and_the_rollback_target(runtime, healthy_fleet,
                                                                   tmp_path):
    """keep_releases: 2 — but v1 runs on zdf1 (its registry says so) and v2 is the rollback
    target the controller names: neither goes, however old."""
    app = runtime.config.app
    shutil.copytree(tmp_path / "releases/v3", tmp_path / "releases/v4")
    (tmp_path / "releases/v4/data.txt").write_text("four")
    runtime.check_release(app, "v1")
    rev = Revision("shop", 1, "v1", app, runtime.config.health)
    instance = runtime.start(rev, Slot(0))   # slot 0: on zdf1
    runtime.check_release(app, "v2")
    runtime.check_release(app, "v3", keep=frozenset({"v2"}))
    runtime.check_release(app, "v4", keep=frozenset({"v2"}))
    left = lambda host: sorted(p.name for p in (host.srv / "zerodown/releases/shop").iterdir())  # noqa: E731
    first, *others = healthy_fleet.hosts
    assert left(first) == ["v1", "v2", "v3", "v4"]
    for host in others:
        assert left(host) == ["v2", "v3", "v4"], host.name
    assert wait_until(lambda: runtime.healthy(instance, rev)[0], timeout=15)


def _asks(runtime, monkeypatch) -> list[tuple[str, str]]:
    """The agent calls made from now on (one round trip each): (host, the calling thread)."""
    asked: list[tuple[str, str]] = []
    real = runtime.connections.ask

    def ask(host, command, line, **kwargs):
        asked.append((host, threading.current_thread().name))
        return real(host, command, line, **kwargs)
    monkeypatch.setattr(runtime.connections, "ask", ask)
    return asked


def test_once_the_agents_answer_a_hosts_preflight_and_preparation_are_one_round_trip(
        runtime, healthy_fleet, monkeypatch):
    app = runtime.config.app
    runtime.check_release(app, "v1")   # installs the agents (the shell's pre-flight first)
    asked = _asks(runtime, monkeypatch)
    runtime.check_release(app, "v2")   # the pre-flight with the preparation, then the commit
    assert sorted(h for h, _ in asked) == sorted([h.name for h in healthy_fleet.hosts] * 2), asked
    for host in healthy_fleet.hosts:
        assert (host.srv / "zerodown/releases/shop/v2/data.txt").read_text() == "two"
    asked.clear()
    runtime.check_release(app, "v2")   # complete on every host: one round trip each
    assert sorted(h for h, _ in asked) == sorted(h.name for h in healthy_fleet.hosts), asked


def test_a_host_not_ready_refuses_before_a_release_is_put_in_place_anywhere(
        runtime, healthy_fleet, monkeypatch):
    from zerodown.hosts import preflight
    app = runtime.config.app
    runtime.check_release(app, "v1")
    monkeypatch.setattr(preflight, "MIN_FREE_MB", 1 << 40)   # every host too full
    with pytest.raises(RuntimeFailure, match=r"the fleet is not ready, nothing was changed:\n"
                                             r"  zdf1: only \d+ MB free"):
        runtime.check_release(app, "v2")
    for host in healthy_fleet.hosts:
        releases = host.srv / "zerodown/releases/shop"
        assert not (releases / "v2").exists() and (releases / "v1").exists()


@pytest.fixture
def release_stack(healthy_fleet, tmp_path):
    """A Stack (engine, embedded proxy) over the fleet, one instance a host, app.release
    releases/{version} and keep_releases: 2; v3's app exits at once (a bad version)."""
    from tests.e2e.stack import Stack
    _, path = with_releases(healthy_fleet, tmp_path, {f"v{i}": str(i) for i in range(1, 6)})
    (tmp_path / "releases/v3/app.py").write_text("import sys\nsys.exit(3)\n")
    stack = Stack(path, tmp_path / "state")
    yield stack
    stack.close()


def test_a_deployment_never_prunes_the_release_a_rollback_would_go_to(release_stack,
                                                                      healthy_fleet):
    """keep_releases: 2 through the engine: v1, v2 deployed (v1's instances all gone), v3
    fails and is rolled back: v2 stable, v1 the previous revision — where `zerodown rollback`
    goes. v3's deployment and the checks of v4 and v5 each prune, yet v1's folder stays on
    every host (the engine names the stable and previous versions), and the rollback runs
    in it. Then `zerodown hosts` (issue 14.7: releases present) lists each host's releases
    and names the one zdf3 lost (a host replaced with an empty disk): v2, now the previous
    revision. (One test: it shares the deployments.)"""
    from zerodown.engine.lifecycle import Phase
    stack = release_stack
    releases = lambda host: sorted(p.name for p in (host.srv / BASE.removeprefix("/srv/"))  # noqa: E731
                                   .iterdir())
    inode = lambda host: (host.srv / BASE.removeprefix("/srv/") / "v1").stat().st_ino  # noqa: E731
    assert stack.deploy("v1") is Phase.SUCCEEDED
    first = {h.name: inode(h) for h in healthy_fleet.hosts}
    assert stack.deploy("v2") is Phase.SUCCEEDED
    assert {i.version for i in stack.runtime.adopt("shop")} == {"v2"}
    assert stack.deploy("v3") is not Phase.SUCCEEDED   # v3 exits: rolled back to v2
    assert [stack.store.revision("shop", n).version for n in stack.store.stable("shop")] == \
        ["v2", "v1"]
    for host in healthy_fleet.hosts:   # the newest two are v3 and v2; v1 stays as well
        assert releases(host) == ["v1", "v2", "v3"], host.name
    for version in ("v4", "v5"):   # as `zerodown plan` checks them: v3 goes, v1 stays
        stack.runtime.check_release(stack.config.app, version,
                                    keep=stack.engine.rollback_versions())
    for host in healthy_fleet.hosts:
        assert releases(host) == ["v1", "v2", "v4", "v5"], host.name
    d = stack.engine.rollback()
    assert stack.engine.run(d) is Phase.SUCCEEDED
    running = stack.runtime.adopt("shop")
    assert {i.version for i in running} == {"v1"} and len(running) == 3
    # the folder kept, not sent again: the instances run in the one v1's deployment made
    assert {h.name: inode(h) for h in healthy_fleet.hosts} == first
    for host, instance in zip(healthy_fleet.hosts, sorted(running, key=lambda i: i.slot.index)):
        assert host.run(f"readlink /proc/{instance.pid}/cwd").stdout.strip() == f"{BASE}/v1"

    shutil.rmtree(healthy_fleet.hosts[2].srv / BASE.removeprefix("/srv/") / "v2")
    done = hosts_command(stack)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert "RELEASES" in rows["HOST"], done.stdout
    assert " v5 v4 v2 v1 " in f"{rows['zdf1']} " and "missing" not in rows["zdf1"], done.stdout
    assert " v5 v4 v1 (missing: v2) " in f"{rows['zdf3']} ", done.stdout
    report = {h["host"]: h for h in json.loads(hosts_command(stack, "--json").stdout)["hosts"]}
    assert (report["zdf1"]["releases"], report["zdf1"]["missing_releases"]) == (
        ["v5", "v4", "v2", "v1"], [])
    assert (report["zdf3"]["releases"], report["zdf3"]["missing_releases"]) == (
        ["v5", "v4", "v1"], ["v2"])


def hosts_command(stack, *more: str) -> subprocess.CompletedProcess:
    """`zerodown hosts` run against the stack's config and state directory."""
    return subprocess.run([sys.executable, "-m", "zerodown", "-f", str(stack.config.file),
                           "--state-dir", str(stack.state_dir), "hosts", *more],
                          capture_output=True, text=True, timeout=60)


def test_every_host_is_asked_on_the_runtimes_kept_threads(runtime, healthy_fleet, monkeypatch):
    """The release check, the adopt, a hasten and a per_host hook: no pool made per call."""
    from zerodown.hooks import HookContext
    from zerodown.hooks_model import HookSpec
    from zerodown.model import Instance
    app = runtime.config.app
    runtime.check_release(app, "v1")
    asked = _asks(runtime, monkeypatch)
    runtime.check_release(app, "v2")
    assert runtime.adopt("shop") == []   # the check's batch asked it (SshRuntime.prefetched)
    assert runtime.adopt("shop") == []   # once: this one asks every host
    runtime.hasten([Instance("shop", 1, Slot(i), "") for i in range(3)])  # none to give back
    ctx = HookContext("shop", 2, "before_start", 2, "v2", 1, 1, "run before_start hooks",
                      "http://127.0.0.1:8080")
    assert [r.ok for r in runtime.run_on_hosts(HookSpec(command="true", per_host=True),
                                               ctx)] == [True] * 3
    assert sorted(h for h, _ in asked) == sorted([h.name for h in healthy_fleet.hosts] * 5)
    threads = [thread for _, thread in asked]   # batch, commit, adopt, hasten, hook per host
    assert {t.rsplit("_", 1)[0] for t in threads} == {"hosts"}, threads


def test_shared_paths_outlive_a_release_and_a_missing_shared_file_refuses(healthy_fleet,
                                                                          tmp_path):
    """app.shared_dirs [uploads], app.shared_files [config/secret.txt] (Capistrano's
    linked_dirs / linked_files). Each instance starts by appending the secret it reads
    and its version to uploads/seen. A host lacking the secret refuses the release, named,
    before any host has it — asked by a shell (no agent yet), then by the agents; v1's
    line is there for v2's instance; `zerodown hosts` names the missing file, and the
    address and releases of the host lacking it."""
    _, path = with_releases(healthy_fleet, tmp_path, {"v1": "one", "v2": "two"})
    start = ("cat config/secret.txt >> uploads/seen && echo {version} >> uploads/seen && "
             "exec /usr/bin/python3 app.py --host {host} --port {port} --version {version}")
    path.write_text(path.read_text().replace(
        "  release: releases/{version}\n", "  release: releases/{version}\n  shared_dirs: "
        "[uploads]\n  shared_files: [config/secret.txt]\n").replace(
        '  command: ["/usr/bin/python3", "app.py", "--host", "{host}", "--port", "{port}", '
        '"--version", "{version}"]', f"  command: [/bin/sh, -c, {json.dumps(start)}]"))
    for version in ("v1", "v2"):   # what the upload has at the shared paths is replaced
        (tmp_path / "releases" / version / "uploads").mkdir()
        (tmp_path / "releases" / version / "uploads/seen").write_text("from the upload\n")
        (tmp_path / "releases" / version / "config").mkdir()
        (tmp_path / "releases" / version / "config/secret.txt").write_text("sample\n")
    shared = [host.srv / "zerodown/shared/shop" for host in healthy_fleet.hosts]
    for host, root in zip(healthy_fleet.hosts, shared):
        shutil.rmtree(root, ignore_errors=True)
        if host is not healthy_fleet.hosts[2]:
            (root / "config").mkdir(parents=True)
            (root / "config/secret.txt").write_text(f"secret of {host.name}\n")
    missing = r"zdf3: shared file missing: /srv/zerodown/shared/shop/config/secret.txt \("
    rt = runtime_for(parse_config(path.read_text(), file=str(path)), tmp_path / "state")
    app = rt.config.app
    try:
        with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  " + missing):
            rt.check_release(app, "v1")   # the shell's pre-flight: no agent answers yet
        assert not any((h.srv / BASE.removeprefix("/srv/")).exists() for h in healthy_fleet.hosts)
        (shared[2] / "config").mkdir(parents=True)
        (shared[2] / "config/secret.txt").write_text("secret of zdf3\n")
        rt.check_release(app, "v1")
        rev1 = Revision("shop", 1, "v1", app, rt.config.health)
        first = rt.start(rev1, Slot(0))   # on zdf1
        assert wait_until(lambda: rt.healthy(first, rev1)[0], timeout=15)

        (shared[2] / "config/secret.txt").unlink()
        with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  " + missing):
            rt.check_release(app, "v2")   # asked by the agents, with the preparation
        assert not any((h.srv / BASE.removeprefix("/srv/") / "v2").exists()
                       for h in healthy_fleet.hosts)
        (shared[2] / "config/secret.txt").write_text("secret of zdf3\n")
        rt.check_release(app, "v2")
        rev2 = Revision("shop", 2, "v2", app, rt.config.health)
        second = rt.start(rev2, Slot(0))
        assert wait_until(lambda: rt.healthy(second, rev2)[0], timeout=15)
        assert (shared[0] / "uploads/seen").read_text() == \
            "secret of zdf1\nv1\nsecret of zdf1\nv2\n"
        v2 = healthy_fleet.hosts[0].srv / BASE.removeprefix("/srv/") / "v2"
        assert (v2 / "uploads").readlink() == Path("/srv/zerodown/shared/shop/uploads")

        (shared[1] / "config/secret.txt").unlink()
        done = subprocess.run([sys.executable, "-m", "zerodown", "-f", str(path), "--state-dir",
                               str(tmp_path / "state"), "hosts"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr
        rows = {line.split()[0]: line for line in done.stdout.splitlines()}
        assert "shared file missing: /srv/zerodown/shared/shop/config/secret.txt" in \
            rows["zdf2"] and " no " in rows["zdf2"], done.stdout
        # reached, so its address and releases are shown, not "-" as for a host cut off
        assert f" {healthy_fleet.hosts[1].address} " in rows["zdf2"], done.stdout
        assert " v2 v1 " in rows["zdf2"], done.stdout
        assert "missing" not in rows["zdf1"] + rows["zdf3"], done.stdout
    finally:
        for instance in rt.adopt("shop"):
            rt.stop(instance, grace=1)
        rt.close()
