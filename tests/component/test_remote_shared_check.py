"""`zerodown validate` with a shared embedded proxy on router.host: the services registered
there are read on that host (its read-only command, run here by a shell as the SSH
connection would run it there) and a conflict is refused naming the key and the other
zerodown.yaml; a host that does not answer is a warning naming it, never an error."""

from __future__ import annotations

import json
import subprocess

import pytest

from zerodown.commands.shared_check import check_remote_shared
from zerodown.config import parse_config
from zerodown.errors import ConfigError
from zerodown.hosts.done import Done
from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.routers.shared_registry import read_here, read_on

TEXT = """\
service: {service}
listen: 10.9.0.1:8080
app:
  command: python app.py --port {{port}}
runtime: {{kind: ssh, hosts: [app1, lb1]}}
router: {{kind: embedded, host: lb1, shared: edge, hosts: [{site}]}}
"""


class Shell:
    """An SSH connection to lb1 whose commands run in a shell here; `silent`: no answer."""

    def __init__(self, silent: bool = False):
        self.silent, self.commands = silent, []

    def run(self, host, command, *, input=None, timeout=None):
        self.commands.append((host, command))
        if self.silent:
            raise HostUnreachable(f"host {host}: no connection within 2s", host)
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                              timeout=timeout)
        return Done(done.returncode, done.stdout, done.stderr)


class Runtime:
    def __init__(self, folder, connections):
        self.folder, self.connections, self.closed = str(folder), connections, False

        class options:
            command_timeout = 60.0
        self.options = options

    def router_dir(self, service, shared=None):
        return self.folder.rsplit("/", 1)[0]  # the proxy's folder is `proxy` in it

    def host_named(self, name):
        return None

    def close(self):
        self.closed = True


class Ctl:
    def __init__(self, runtime):
        self._runtime = runtime

    def runtime(self, cfg=None):
        return self._runtime


def config(service: str, site: str, file: str = "/srv/b/zerodown.yaml"):
    return parse_config(TEXT.format(service=service, site=site), file=file)


@pytest.fixture
def edge(tmp_path):
    """The shared proxy's folder on lb1, with shop registered by /srv/a/zerodown.yaml."""
    folder = tmp_path / "proxies" / "edge" / "proxy"
    (folder / "proxy.services").mkdir(parents=True)
    (folder / "proxy.services" / "shop.json").write_text(json.dumps(
        {"hosts": ["shop.example.com"], "path_prefix": "/", "config": "/srv/a/zerodown.yaml",
         "table": {"version": 0, "revisions": []}}))
    (folder / "proxy.pid").write_text(json.dumps({"pid": 1, "listen": "10.9.0.1:8080"}))
    return folder


def test_a_host_another_file_holds_on_the_remote_shared_proxy_is_refused(edge):
    runtime = Runtime(edge, Shell())
    with pytest.raises(ConfigError) as caught:
        check_remote_shared(Ctl(runtime), config("shop2", "SHOP.example.com"))
    message = str(caught.value)
    assert "router.hosts" in message and "on shared proxy edge on lb1" in message, message
    assert "/srv/a/zerodown.yaml" in message and "/srv/b/zerodown.yaml" in message
    assert caught.value.file == "/srv/b/zerodown.yaml" and caught.value.line == 6
    assert runtime.connections.commands[0][0] == "lb1" and runtime.closed


def test_no_conflict_there_is_valid_and_nothing_is_written(edge):
    before = sorted((p.name, p.read_bytes()) for p in edge.rglob("*") if p.is_file())
    assert check_remote_shared(Ctl(Runtime(edge, Shell())), config("api", "api.example.com")) \
        is None
    assert sorted((p.name, p.read_bytes()) for p in edge.rglob("*") if p.is_file()) == before
    # the same service from the file that registered it: itself, no conflict
    assert check_remote_shared(Ctl(Runtime(edge, Shell())),
                               config("shop", "shop.example.com", "/srv/a/zerodown.yaml")) is None


def test_a_proxy_listening_elsewhere_there_and_an_empty_folder(edge, tmp_path):
    (edge / "proxy.pid").write_text(json.dumps({"pid": 1, "listen": "10.9.0.1:9999"}))
    with pytest.raises(ConfigError, match=r"listen: shared proxy edge on lb1 listens on "
                                          r"10.9.0.1:9999"):
        check_remote_shared(Ctl(Runtime(edge, Shell())), config("api", "api.example.com"))
    nothing = tmp_path / "none" / "proxy"  # no proxy there yet: nothing to conflict with
    assert check_remote_shared(Ctl(Runtime(nothing, Shell())), config("api", "x.test")) is None


def test_a_router_host_that_does_not_answer_is_a_warning_naming_it(edge):
    runtime = Runtime(edge, Shell(silent=True))
    said = check_remote_shared(Ctl(runtime), config("shop2", "shop.example.com"))
    assert said is not None and said.startswith("router.host lb1 was not asked"), said
    assert "shared proxy edge on lb1" in said and "no connection within 2s" in said
    assert "refused at `zerodown up`" in said and runtime.closed


def test_nothing_is_asked_without_a_shared_proxy_on_a_router_host(edge):
    text = TEXT.replace("host: lb1, shared: edge, hosts: [{site}]", "host: lb1")
    cfg = parse_config(text.format(service="shop"), file="/srv/b/zerodown.yaml")
    runtime = Runtime(edge, Shell())
    assert check_remote_shared(Ctl(runtime), cfg) is None
    assert runtime.connections.commands == []


def test_the_reading_there_is_the_reading_here(edge, tmp_path):
    """The command router.host runs reads a folder as read_here does, in every case it
    tells apart: no folder, a file it cannot read, a file not .json, no proxy.pid."""
    (edge / "proxy.services" / "notes.txt").write_text("not a registration")
    (edge / "proxy.services" / "gone.json").mkdir()  # listed, unreadable: left out
    (edge / "proxy.services" / "api.json").write_text('{"hosts": ["api.example.com"]}')
    bare = tmp_path / "bare"
    (bare / "proxy.services").mkdir(parents=True)
    for folder in (edge, bare, tmp_path / "none"):
        there = read_on(Shell(), "lb1", str(folder), timeout=30)
        assert there == read_here(str(folder)), folder
    assert sorted(read_on(Shell(), "lb1", str(edge), timeout=30).services) == [
        "api.json", "shop.json"]
