"""`zerodown exec` on the fleet, through the command line: one host, a named one or every
host, in the release with the app's env; failures, a host cut off and --timeout; `-i` with
a terminal (or a pipe) to one host's command."""

from __future__ import annotations

import shutil
import signal
import subprocess
import termios
import time

from tests.support import APP
from tests.support.cli import Service
from tests.support.net import wait_until
from tests.support.terminal import Terminal


CONNECT = 8.0  # runtime.connect_timeout of the exec test: a silent host's cost, were it waited for
SHOW = "import os; print(os.getcwd(), os.environ['GREETING'], 'MY_PORT' in os.environ)"


def test_exec_runs_on_one_host_every_host_or_a_named_one_in_the_release_with_its_env(
        healthy_fleet, tmp_path):
    """`zerodown exec`: in the stable version's release folder on each host, with the app's
    env ({version}, {host} filled; {port}'s left out), each line prefixed with its host; a
    failure on one host (its exit status), a missing release, a host cut off (named, exit 255;
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
        assert every.stdout.splitlines() == [
            f"{h.name} | /srv/zerodown/releases/shop/v1 hi v1 on {h.address} False"
            for h in fleet.hosts], every.stdout
        assert "not set: MY_PORT" in every.stderr, every.stderr
        # the hosts end in the reverse order, zdf2 between its two lines: shown each whole,
        # in runtime.hosts' order (they came as they were written, zdf3's first)
        late = {fleet.hosts[0].address: 1.0, fleet.hosts[1].address: 0.5}
        slow = s.run("exec", "--all", "--", py, "-c",
                     f"import os, time; late = {late!r}.get(os.environ['GREETING'].split()[-1], "
                     f"0); print('a', flush=True); time.sleep(late); print('b')").stdout
        assert slow == "".join(f"{h.name} | a\n{h.name} | b\n" for h in fleet.hosts), slow
        started = time.monotonic()
        assert s.run("exec", "--", py, "-c", "print('one')").stdout == "zdf1 | one\n"
        healthy = time.monotonic() - started
        assert s.run("exec", "--host", "zdf3", "--", "pwd").stdout == \
            "zdf3 | /srv/zerodown/releases/shop/v1\n"
        assert "--host 'zdf9' is not one of runtime.hosts (zdf1, zdf2, zdf3)" in \
            s.run("exec", "--host", "zdf9", "--", "true", code=2).stderr

        zdf2 = fleet.hosts[1].address   # fails on zdf2 only: its exit status, naming it and how
        failed = s.run("exec", "--all", "--", py, "-c", "import os, sys; sys.exit(3 if "
                       f"os.environ['GREETING'].endswith('{zdf2}') else 0)", code=3).stderr
        assert f"zdf2: {py} exited 3 after " in failed and "zdf1" not in failed and \
            "zdf3" not in failed, failed
        missing = s.run("exec", "--all", "--version", "v9", "--", "true", code=255).stderr
        assert "zdf1: release v9 is not on this host" in missing and "it has v1" in missing

        fleet.partition(fleet.hosts[0])
        started = time.monotonic()
        assert s.run("exec", "--", py, "-c", "print('here')").stdout == "zdf2 | here\n"
        took = time.monotonic() - started
        assert took < healthy + CONNECT / 2, \
            f"{took:.1f}s (healthy {healthy:.1f}s): zdf1 waited for, up to connect_timeout"
        cut = s.run("exec", "--all", "--", py, "-c", "print('here')", code=255)  # not run
        assert sorted(cut.stdout.splitlines()) == ["zdf2 | here", "zdf3 | here"]
        # no connection opened: nothing was sent, so it did not run (not "unknown")
        assert "zdf1: not run: host zdf1: no SSH connection within" in cut.stderr, cut.stderr
        fleet.heal(fleet.hosts[0])

        mark = f"3{time.monotonic_ns() % 10**6}"
        slow = s.run("exec", "--host", "zdf2", "--timeout", "1s", "--", "sh", "-c",
                     f"sleep {mark} & echo started; wait", code=124)
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
            assert term.wait(30) == 128 + signal.SIGINT  # its status, as a shell says it
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
