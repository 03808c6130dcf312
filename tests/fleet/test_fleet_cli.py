"""The fleet through the command line and the controller service: up, deploy, status, down."""

from __future__ import annotations

import queue
import re
import shutil
import signal
import subprocess
import termios
import threading
import time

import pytest

from tests.support import APP
from tests.support.cli import Service
from tests.support.net import get, wait_until
from tests.support.terminal import Terminal


@pytest.fixture
def fleet_service(healthy_fleet, tmp_path):
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(
        s.port, "{kind: in-place, batch_by: host}", per_host=2))
    yield s
    s.cleanup()


def test_up_deploy_status_and_down_across_the_fleet(fleet_service, healthy_fleet):
    s = fleet_service
    assert "shop is up: r1 (v1) serves" in s.run("up").stdout
    plan = s.run("plan", "v2").stdout   # in-place, batch_by: host: one host's pair at a time
    for pair, host in (("shop-r1-s0, shop-r1-s3", "zdf1"), ("shop-r1-s1, shop-r1-s4", "zdf2"),
                       ("shop-r1-s2, shop-r1-s5", "zdf3")):
        assert f"stop {pair} (on {host})" in plan, plan   # each step names its hosts
    before, seen, done = _controller_connections(s, healthy_fleet), set(), threading.Event()

    def watch():   # every connection the controller has while the deployment runs
        while not done.is_set():
            seen.update((h, end) for h, ends in _controller_connections(
                s, healthy_fleet).items() for end in ends)
            done.wait(0.02)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    s.run("deploy", "v2")
    done.set()
    watcher.join()
    # the controller keeps its connections from one request and run to the next
    # (runtimes/kept.py): the deployment opened none (each took ~0.2 s and an agent's
    # start; the request's release check and the run each opened their own)
    assert all(before.values()), before
    assert seen == {(h, end) for h, ends in before.items() for end in ends}, (seen, before)
    status = s.status()
    by_host = {(i["host"], i["version"], i["address"].split(":")[0]) for i in status["instances"]}
    assert by_host == {(h.name, "v2", h.address) for h in healthy_fleet.hosts}
    assert len(status["instances"]) == 6
    assert "HOST" in s.run("status").stdout
    assert s.text() == "hello from v2\n"
    s.run("down")
    assert [h.app_count() for h in healthy_fleet.hosts] == [0, 0, 0], "down stopped them all"


def _controller_connections(s, fleet) -> dict[str, set[str]]:
    """Host -> the local ends of the controller daemon's SSH connections to it."""
    pid = (s.state_dir / "controller.pid").read_text().strip()
    out = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    return {h.name: {line.split()[2] for line in out.splitlines()
                     if line.split()[3] == f"{h.address}:22" and f"pid={pid}," in line}
            for h in fleet.hosts}


def test_down_with_a_host_cut_off_stops_the_rest_names_it_and_finishes_once_it_answers(
        healthy_fleet, tmp_path):
    """`down` stops what it reaches, leaves the silent host's instances recorded (exit 1,
    the host and its instances named, within the command's bounds); healed, `down` again
    finds and stops them (exit 0)."""
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1))
    cut = healthy_fleet.hosts[1]
    try:
        s.run("up")
        assert [h.app_count() for h in healthy_fleet.hosts] == [1, 1, 1]
        healthy_fleet.partition(cut)
        began = time.monotonic()
        done = s.run("down", code=1)
        took = time.monotonic() - began
        assert "host zdf2 did not answer" in done.stderr, done.stderr
        assert "left on it, still recorded: shop-r1-s1" in done.stderr, done.stderr
        assert "partly down" in done.stderr
        assert took < 60, f"down took {took:.1f}s with a host cut off"
        # status: what down left is not routed (the proxy is stopped), on the host it missed
        after = s.status()
        assert [(i["name"], i["state"]) for i in after["instances"]] == [
            ("shop-r1-s1", "unrouted")], after["instances"]
        assert after["left_by_down"] == ["zdf2"] and not after["proxy"]["running"]
        assert "left by `zerodown down` on zdf2" in s.run("status").stdout
        healthy_fleet.heal(cut)
        assert [h.app_count() for h in healthy_fleet.hosts] == [0, 1, 0]  # zdf2's still runs
        s.run("up")   # up finds it too: one instance per slot again, never two
        assert [h.app_count() for h in healthy_fleet.hosts] == [1, 1, 1]
        again = s.run("down")
        assert "3 instances" in again.stdout, again.stdout
        assert [h.app_count() for h in healthy_fleet.hosts] == [0, 0, 0]
    finally:
        healthy_fleet.heal(cut)
        s.cleanup()


def test_logs_reads_every_hosts_instances_prefixed_and_follows_past_a_host_cut_off(
        healthy_fleet, tmp_path):
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1))
    try:
        logs_across_the_fleet(s, healthy_fleet)
    finally:
        s.cleanup()


def logs_across_the_fleet(s: Service, healthy_fleet) -> None:
    s.run("up")
    names = {(h.name, f"shop-r1-s{i}") for i, h in enumerate(healthy_fleet.hosts)}
    out = s.run("logs").stdout  # every host read at once, lines merged in time order
    assert {tuple(line.split(" | ")[0].split()) for line in out.splitlines()} == names
    assert f"zdf2 shop-r1-s1 | " in out and "starting shop-r1-s1 on zdf2" in out
    only = s.run("logs", "--host", "zdf2").stdout
    assert {line.split(" | ")[0].split()[0] for line in only.splitlines()} == {"zdf2"}
    one = s.run("logs", "--instance", "r1-s1", "-n", "1").stdout.splitlines()
    assert len(one) == 1 and one[0].startswith("zdf2 shop-r1-s1 | ")
    assert "not one of runtime.hosts, nor a host an instance runs on (zdf1, zdf2, zdf3)" in \
        s.run("logs", "--host", "zdf9", code=2).stderr

    cut = healthy_fleet.hosts[2]
    healthy_fleet.partition(cut)   # a host that does not answer is named, the others shown
    done = s.run("logs", code=1)
    assert "host zdf3" in done.stderr and "zdf3's instances are left out" in done.stderr
    assert {line.split(" | ")[0].split()[0] for line in done.stdout.splitlines()} == \
        {"zdf1", "zdf2"}

    follow = subprocess.Popen(s.argv("logs", "--follow", "-n", "1"), cwd=s.root, env=s.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = Lines(follow.stdout)
        lines.until(lambda text: text.count("\n") == 1)  # the last line: following
        for host, slot in ((healthy_fleet.hosts[0], 0), (healthy_fleet.hosts[1], 1)):
            host.run(f"echo 'hello from {host.name}' >> "
                     f"/srv/zerodown/services/shop/logs/shop-r1-s{slot}.log")
        seen = lines.until(lambda text: "hello from zdf1" in text
                          and "hello from zdf2" in text)
        assert "zdf1 shop-r1-s0 | hello from zdf1" in seen
        assert "zdf2 shop-r1-s1 | hello from zdf2" in seen
        healthy_fleet.heal(cut)    # back: its new lines come too
        cut.run("echo 'hello from zdf3' >> /srv/zerodown/services/shop/logs/shop-r1-s2.log")
        assert "zdf3 shop-r1-s2 | hello from zdf3" in lines.until(
            lambda text: "hello from zdf3" in text)
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=10)
    err = follow.stderr.read()
    assert "host zdf3" in err and "zdf3 answers again" in err
    s.run("down")


CONNECT = 8.0  # runtime.connect_timeout of the exec test: a silent host's cost, were it waited for
SHOW = "import os; print(os.getcwd(), os.environ['GREETING'], 'MY_PORT' in os.environ)"


def test_exec_runs_on_one_host_every_host_or_a_named_one_in_the_release_with_its_env(
        healthy_fleet, tmp_path):
    """`zerodown exec`: in the stable version's release folder on each host, with the app's
    env ({version}, {host} filled; {port}'s left out), each line prefixed with its host; a
    failure on one host (its exit status), a missing release, a host cut off (named, exit 1;
    the default host is then the first that answers, found well within connect_timeout:
    every host is asked at once) and --timeout (its group stopped)."""
    fleet, s = healthy_fleet, Service(tmp_path)
    s.file.write_text(fleet.service_config(s.port, "{kind: rolling}", per_host=1)
                      .replace("connect_timeout: 2s", f"connect_timeout: {CONNECT:g}s")
                      .replace(f'"{APP}"', '"app.py"').replace(
        '  env: {APP_DRAIN_TIMEOUT: "5"}', '  release: releases/{version}\n  env: {'
        'APP_DRAIN_TIMEOUT: "5", GREETING: "hi {version} on {host}", MY_PORT: "{port}"}'))
    (tmp_path / "releases/v1").mkdir(parents=True)
    shutil.copy(APP, tmp_path / "releases/v1/app.py")
    py = "/usr/bin/python3"
    try:
        assert "nothing is deployed yet" in s.run("exec", "--", "true", code=2).stderr
        s.run("up")
        every = s.run("exec", "--all", "--", py, "-c", SHOW)
        assert sorted(every.stdout.splitlines()) == [
            f"{h.name} | /srv/zerodown/releases/shop/v1 hi v1 on {h.address} False"
            for h in fleet.hosts], every.stdout
        assert "not set: MY_PORT" in every.stderr, every.stderr
        started = time.monotonic()
        assert s.run("exec", "--", py, "-c", "print('one')").stdout == "zdf1 | one\n"
        healthy = time.monotonic() - started
        assert s.run("exec", "--host", "zdf3", "--", "pwd").stdout == \
            "zdf3 | /srv/zerodown/releases/shop/v1\n"
        assert "--host 'zdf9' is not one of runtime.hosts (zdf1, zdf2, zdf3)" in \
            s.run("exec", "--host", "zdf9", "--", "true", code=2).stderr

        zdf2 = fleet.hosts[1].address   # fails on zdf2 only: exit 1, naming it and how
        failed = s.run("exec", "--all", "--", py, "-c", "import os, sys; sys.exit(3 if "
                       f"os.environ['GREETING'].endswith('{zdf2}') else 0)", code=1).stderr
        assert f"zdf2: {py} exited 3 after " in failed and "zdf1" not in failed and \
            "zdf3" not in failed, failed
        missing = s.run("exec", "--all", "--version", "v9", "--", "true", code=1).stderr
        assert "zdf1: release v9 is not on this host" in missing and "it has v1" in missing

        fleet.partition(fleet.hosts[0])
        started = time.monotonic()
        assert s.run("exec", "--", py, "-c", "print('here')").stdout == "zdf2 | here\n"
        took = time.monotonic() - started
        assert took < healthy + CONNECT / 2, \
            f"{took:.1f}s (healthy {healthy:.1f}s): zdf1 waited for, up to connect_timeout"
        cut = s.run("exec", "--all", "--", py, "-c", "print('here')", code=1)
        assert sorted(cut.stdout.splitlines()) == ["zdf2 | here", "zdf3 | here"]
        assert "zdf1: did not answer" in cut.stderr and "unknown" in cut.stderr, cut.stderr
        fleet.heal(fleet.hosts[0])

        mark = f"3{time.monotonic_ns() % 10**6}"
        slow = s.run("exec", "--host", "zdf2", "--timeout", "1s", "--", "sh", "-c",
                     f"sleep {mark} & echo started; wait", code=1)
        assert slow.stdout == "zdf2 | started\n"
        assert f"zdf2: sh did not end within --timeout 1s" in slow.stderr, slow.stderr
        assert not fleet.hosts[1].run(f"pgrep -f '[s]leep {mark}' || true").stdout.strip()

        left = subprocess.Popen(s.argv("exec", "--host", "zdf2", "--", "sleep", mark),
                                cwd=s.root, env=s.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)   # Ctrl-C: stopped there too
        there = lambda: fleet.hosts[1].run(f"pgrep -f '[s]leep {mark}' || true").stdout.strip()
        wait_until(there, timeout=20, what="the command running on zdf2")
        left.send_signal(signal.SIGINT)
        assert left.wait(timeout=20) == 130
        wait_until(lambda: not there(), timeout=10, what="zdf2's command stopped")
        s.run("down")
    finally:
        fleet.heal(fleet.hosts[0])
        s.cleanup()


# it ignores SIGHUP, as a console may: a hangup there must stop it all the same
CONSOLE = ("import signal, sys, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
           "print('tty', sys.stdin.isatty(), flush=True); "
           "print('got', repr(input()), flush=True); time.sleep(300)")


def test_exec_i_gives_one_hosts_command_a_terminal_there_or_this_stdin(healthy_fleet,
                                                                     tmp_path):
    """`zerodown exec -i` from a terminal: a pseudo-terminal on the host (the command sees
    a tty and reads a line typed here; Ctrl-C's byte is its SIGINT there; this terminal
    restored after, also when this end is killed), nothing of it left there after Ctrl-C or
    this end killed (by a hangup there, though the command ignores SIGHUP); from a pipe,
    the input piped through to its end; never with --all."""
    fleet, s = healthy_fleet, Service(tmp_path)
    s.file.write_text(fleet.service_config(s.port, "{kind: rolling}", per_host=1))
    zdf2, py = fleet.hosts[1], "/usr/bin/python3"
    mark = f"zdexec{time.monotonic_ns() % 10**6}"
    left = lambda: zdf2.run(f"pgrep -af '[z]dexec|[h]osts.one_off' || true").stdout.strip()
    try:
        s.run("up")
        assert "-i and --all" in s.run("exec", "-i", "--all", "--", "true", code=2).stderr
        piped = subprocess.run(s.argv("exec", "-i", "--host", "zdf2", "--", py, "-c",
                                      "import sys; print(sys.stdin.isatty(), "
                                      "sys.stdin.read().upper(), end='')"),
                               input="puts 1\nputs 2\n", cwd=s.root, env=s.env, text=True,
                               capture_output=True, timeout=60)
        assert (piped.returncode, piped.stdout) == (0, "False PUTS 1\nPUTS 2\n"), piped
        waiting = subprocess.Popen(s.argv("exec", "-i", "--host", "zdf2", "--", "sh", "-c",
                                          "sleep 300; :", mark),
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd=s.root, env=s.env)
        wait_until(lambda: mark in left(), timeout=20, what="the piped command on zdf2")
        waiting.kill()  # its input still open: the channel's end is what stops it
        waiting.wait(timeout=10)
        wait_until(lambda: not left(), timeout=15, what="zdf2's piped command stopped")

        console = s.argv("exec", "-i", "--host", "zdf2", "--", py, "-c", CONSOLE, mark)
        with Terminal(console, cwd=s.root, env=s.env) as term:
            term.expect(b"tty True\r\n")
            assert not term.local_modes() & termios.ECHO  # raw here: the far end echoes
            term.write(b"typed here\r")
            term.expect(b"got 'typed here'\r\n")
            assert mark in left()
            term.write(b"\x03")  # a byte, not this end's SIGINT: the command's, there
            assert term.wait(30) == 1
            term.expect(f"zdf2: {py} was killed by SIGINT".encode())
            assert term.local_modes() & termios.ECHO and term.local_modes() & termios.ICANON
        assert not left()  # the runner too: nothing waits on the host

        with Terminal(console, cwd=s.root, env=s.env) as term:
            term.write(b"again\r")
            term.expect(b"got 'again'\r\n")  # asleep now, not reading its ended input
            term.proc.terminate()  # the channel closes: the terminal there hangs up
            assert term.wait(30) == 128 + signal.SIGTERM
            assert term.local_modes() & termios.ECHO  # put back on the way out
        wait_until(lambda: not left(), timeout=15, what="zdf2's command stopped")
        s.run("down")
    finally:
        s.cleanup()


class Lines:
    """A running command's output lines, read by a thread (select() on a buffered stream
    misses lines already in its buffer)."""

    def __init__(self, stream):
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(l) for l in stream] and None,
                         daemon=True).start()

    def until(self, done, timeout: float = 20.0) -> str:
        """Lines until `done(text so far)`, within `timeout`."""
        text, deadline = "", time.monotonic() + timeout
        while not done(text):
            try:
                text += self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such output within {timeout:g}s; got:\n{text}")
        return text


def test_up_deploy_status_logs_and_down_with_haproxy_on_a_fleet_host(healthy_fleet, tmp_path):
    """router: {kind: haproxy, host: zdf1} through the command line and the controller
    service: users reach zdf1's address, status and logs say where it runs, down stops it."""
    s = Service(tmp_path)
    lb = healthy_fleet.hosts[0]
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1)
                      .replace(f"listen: 127.0.0.1:{s.port}", f"listen: {lb.address}:{s.port}")
                      + "router: {kind: haproxy, host: zdf1}\n")
    try:
        assert "shop is up" in s.run("up").stdout
        s.run("deploy", "v2")
        assert get(s.port, host=lb.address).text == "hello from v2\n"  # through zdf1
        status = s.run("status").stdout
        assert re.search(r"\(proxy pid \d+ on zdf1, table v\d+\)", status), status
        assert s.status()["proxy"]["host"] == "zdf1"
        assert "haproxy" in s.run("logs", "proxy").stdout.lower()
        assert lb.run("pgrep -x haproxy || true").stdout.strip()
        s.run("down")
        assert not lb.run("pgrep -x haproxy || true").stdout.strip()  # stopped on zdf1
        hosts = s.run("hosts").stdout   # router.host checked with its load balancer
        assert re.search(r"zdf1 \(router\)\s+10\.231\.77\.11\s+yes", hosts), hosts
        s.file.write_text(s.file.read_text().replace(
            "{kind: haproxy, host: zdf1}", "{kind: haproxy, host: zdf1, binary: /no/haproxy}"))
        hosts = s.run("hosts", code=1).stdout
        assert re.search(r"zdf1 \(router\)\s+10\.231\.77\.11\s+no\s.*no /no/haproxy there",
                         hosts), hosts
    finally:
        s.cleanup()


def lb_service(healthy_fleet, tmp_path, router: str) -> Service:
    """The load balancer on zdf1 (listening on its address), instances on zdf2 and zdf3."""
    s = Service(tmp_path)
    lb = healthy_fleet.hosts[0]
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1)
                      .replace(f"listen: 127.0.0.1:{s.port}", f"listen: {lb.address}:{s.port}")
                      .replace("instances: 3", "instances: 2")
                      .replace("hosts: [zdf1, zdf2, zdf3]", "hosts: [zdf2, zdf3]")
                      + f"router: {router}\n")
    return s


def test_down_with_the_router_host_cut_off_stops_the_instances_names_it_and_finishes_later(
        healthy_fleet, tmp_path):
    """`down` with router.host silent: bounded, the instances it reaches stopped, the router
    host named (exit 1) and left recorded; healed, `down` again stops HAProxy there."""
    s = lb_service(healthy_fleet, tmp_path, "{kind: haproxy, host: zdf1}")
    lb = healthy_fleet.hosts[0]
    try:
        s.run("up")
        assert [h.app_count() for h in healthy_fleet.hosts] == [0, 1, 1]
        healthy_fleet.partition(lb)
        cut = s.status()   # what is routed is unknown: the store's word, not "unrouted"
        assert [i["state"] for i in cut["instances"]] == ["routed", "routed"], cut
        assert cut["proxy"]["unreachable"] and "zdf1" in cut["proxy"]["unreachable"], cut
        began = time.monotonic()
        done = s.run("down", code=1)
        took = time.monotonic() - began
        assert took < 60, f"down took {took:.1f}s with the router host cut off"
        assert "router host zdf1 did not answer" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert "partly down" in done.stderr and "2 instances" in done.stderr, done.stderr
        assert [h.app_count() for h in healthy_fleet.hosts[1:]] == [0, 0]
        after = s.status()
        assert after["left_by_down"] == ["zdf1"], after
        assert after["proxy"]["unreachable"] and not after["proxy"]["running"], after["proxy"]
        text = s.run("status").stdout
        assert "(proxy on zdf1: unknown, its host does not answer)" in text, text
        assert "left by `zerodown down` on zdf1, silent when it ran: its load balancer on " \
               "zdf1 was not stopped" in text, text
        healthy_fleet.heal(lb)
        assert lb.run("pgrep -x haproxy || true").stdout.strip()  # still running there
        again = s.run("down")
        assert "stopped HAProxy" in again.stdout, again.stdout
        assert not lb.run("pgrep -x haproxy || true").stdout.strip()
        assert s.status().get("left_by_down") in (None, []), s.status()
    finally:
        healthy_fleet.heal(lb)
        s.cleanup()


def test_logs_proxy_reads_nginxs_own_log_on_the_router_host(healthy_fleet, tmp_path):
    """`zerodown logs proxy` with nginx on router.host: its error log there, prefixed with
    the host (it failed with an AttributeError: nginx has no proxy.log)."""
    s = lb_service(healthy_fleet, tmp_path, "{kind: nginx, host: zdf1}")
    try:
        s.run("up")
        shown = s.run("logs", "proxy", "-n", "50").stdout
        assert shown.startswith("zdf1 proxy | ") and "nginx" in shown, shown
        s.run("down")
    finally:
        s.cleanup()


def test_hosts_written_user_at_address_port_with_an_identity_file_up_to_down(healthy_fleet,
                                                                             tmp_path):
    """The issue's own form of runtime.hosts (`deploy@10.0.0.13:2222`), with identity_file and
    no ssh_config: every command that names a host (hosts, plan, status, logs) uses the
    name as written, and `{host}` is the address reached."""
    fleet = healthy_fleet
    names = [f"root@{fleet.hosts[0].address}:22", fleet.hosts[1].address,
             f"root@{fleet.hosts[2].address}"]
    s = Service(tmp_path)
    config = fleet.service_config(s.port, "{kind: rolling, batch_by: host}", per_host=1)
    config = (config.replace(f"hosts: [{', '.join(h.name for h in fleet.hosts)}]",
                             f"hosts: [{', '.join(names)}]")
              .replace(f"ssh_config: {fleet.ssh_config}", f"identity_file: {fleet.key}"))
    s.file.write_text(config)
    try:
        hosts = s.run("hosts").stdout
        for name, host in zip(names, fleet.hosts):
            assert re.search(rf"^{re.escape(name)}\s+{re.escape(host.address)}\S*\s+yes",
                             hosts, re.M), hosts
        s.run("up")
        plan = s.run("plan", "v2").stdout
        for i, name in enumerate(names):
            assert f"start shop-r2-s{i + 3} (on {name})" in plan, plan   # slot i+3: host i
        s.run("deploy", "v2")
        status = s.status()
        assert {(i["host"], i["version"], i["address"].split(":")[0])
                for i in status["instances"]} == {
            (name, "v2", h.address) for name, h in zip(names, fleet.hosts)}
        logs = s.run("logs", "--host", names[0], "-n", "5").stdout
        assert logs and all(line.startswith(f"{names[0]} shop-r2-s3 | ")
                            for line in logs.splitlines()), logs
        s.run("down")
        assert [h.app_count() for h in fleet.hosts] == [0, 0, 0]
    finally:
        s.cleanup()
