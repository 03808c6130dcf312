"""zerodown's code folders on a host (zerodown/hosts/code_dirs.py): installs that race,
and the pruning of old ones. The install's shell line runs in a real shell here, a
separate SshHost per thread as two controllers' processes would be."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
import time
from dataclasses import dataclass

import pytest

from zerodown.hosts import code_dirs
from zerodown.hosts.code_dirs import prune, to_prune
from zerodown.hosts.done import Done
from zerodown.hosts.package import install_package
from zerodown.hosts.ssh import SshHost, bundle


@dataclass
class _Options:
    command_timeout: float = 30.0
    keepalive: float = 15.0  # runtime.keepalive: the agent's idle limit is made of it


class LocalShell:
    """Connections.run's face over a local bash: the host is this machine."""

    options = _Options()

    def __init__(self):
        self.agents: dict[str, set[str]] = {}  # Connections.agents: where an agent was installed

    def run(self, host: str, command: str, *, input: str | None = None,
            timeout: float | None = None) -> Done:
        done = subprocess.run(["bash", "-c", command], input=input, capture_output=True,
                              text=True, timeout=timeout)
        return Done(done.returncode, done.stdout, done.stderr)


def _at_once(calls) -> list:
    """Run every call in its own thread, released together; their results or errors."""
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def each(i: int):
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 - the test asserts there are none
            results[i] = e
    threads = [threading.Thread(target=each, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_the_agent_installed_by_many_processes_at_once_lands_once_whole(tmp_path):
    for round_ in range(3):
        state = str(tmp_path / f"state{round_}")
        hosts = [SshHost(LocalShell(), "here", state) for _ in range(8)]
        errors = [r for r in _at_once([h.install for h in hosts]) if r is not None]
        assert errors == []
        agent_dir = hosts[0].agent_dir
        assert os.path.exists(f"{agent_dir}/ok")
        assert os.path.exists(f"{agent_dir}/zerodown/hosts/agent.py"), os.listdir(agent_dir)
        assert sorted(os.listdir(os.path.dirname(agent_dir))) == \
            [os.path.basename(agent_dir)], "no unpacking left behind, none nested"


def test_zerodowns_code_installed_by_many_processes_at_once_lands_once_whole(tmp_path):
    hosts = [SshHost(LocalShell(), "here", str(tmp_path)) for _ in range(8)]
    roots = _at_once([lambda h=h: install_package(h) for h in hosts])
    assert len(set(roots)) == 1 and isinstance(roots[0], str), roots
    assert os.path.exists(f"{roots[0]}/zerodown/hosts/code_dirs.py")
    assert os.listdir(tmp_path / "zerodown") == [os.path.basename(roots[0])]


def test_a_folder_in_place_is_never_replaced_under_a_running_process(tmp_path):
    """An install finding the content there already (another process's) leaves it alone:
    the folder an agent runs in keeps its inode."""
    host = SshHost(LocalShell(), "here", str(tmp_path))
    host.install()
    before = os.stat(host.agent_dir).st_ino
    done = LocalShell().run("here", code_dirs.install_script(host.agent_dir, True),
                            input=base64.b64encode(bundle()[1]).decode())
    assert done.ok, done
    assert os.stat(host.agent_dir).st_ino == before


def _folder(parent, name: str, age: float) -> str:
    path = parent / name
    (path / "zerodown").mkdir(parents=True)
    (path / "ok").touch()
    then = time.time() - age
    os.utime(path / "ok", (then, then))
    return str(path)


def test_pruning_keeps_the_newest_and_every_folder_in_use(tmp_path):
    names = [f"{i:016x}" for i in range(6)]  # names[0] the oldest
    for i, name in enumerate(names):
        _folder(tmp_path, name, age=600 - i * 100)
    (tmp_path / f"{names[0]}.new.crashed").mkdir()
    os.utime(tmp_path / f"{names[0]}.new.crashed", (0, 0))
    (tmp_path / f"{names[1]}.new.unpacking").mkdir()  # someone's install, now
    (tmp_path / "notes").mkdir()                        # not ours
    by_cwd = subprocess.Popen(["sleep", "30"], cwd=tmp_path / names[1])
    by_path = subprocess.Popen(["sleep", "30"], env={"PYTHONPATH": str(tmp_path / names[0])})
    try:
        gone = prune(str(tmp_path), keep=3)
    finally:
        by_cwd.kill(), by_path.kill()
        by_cwd.wait(), by_path.wait()
    assert sorted(gone) == sorted([names[2], f"{names[0]}.new.crashed"])
    assert sorted(os.listdir(tmp_path)) == sorted(
        [names[0], names[1], names[3], names[4], names[5], f"{names[1]}.new.unpacking",
         "notes"])


@pytest.mark.parametrize("keep, used, expected", [
    (3, set(), ["b", "a"]),
    (3, {"/p/a/zerodown"}, ["b"]),
    (5, set(), []),
    (1, {"/p/b"}, ["d", "c", "a"]),
    (3, {"/p/ab"}, ["b", "a"]),   # another folder whose name starts alike is not this one
])
def test_to_prune(keep, used, expected):
    folders = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0}
    assert to_prune(folders, keep, used, "/p") == expected
