"""`zerodown logs` across the fleet, through the command line: every host's instances read
at once, each line prefixed with its host and instance, --host and --instance, a host cut
off named and the rest shown, and --follow going on past the cut (its lines once healed)."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time

from tests.support.cli import Service


def test_logs_reads_every_hosts_instances_prefixed_and_follows_past_a_host_cut_off(
        healthy_fleet, tmp_path):
    s = Service(tmp_path)
    # bounds other than the defaults: sent in each instance's record to its host's stamper
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1)
                      + "logs: {keep_ended: 5, max_size: 1MB}\n")
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
