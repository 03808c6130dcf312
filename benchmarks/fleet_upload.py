"""A big release uploaded to a fleet of SSH hosts: the controller's peak memory and the
time it takes (session 20: the upload was built in memory once per host, a tar.gz and its
base64, ~1.17 GB a host for a 500 MB release).

    .venv/bin/python benchmarks/fleet_upload.py                 # 3 hosts, 500 MB (root)
    .venv/bin/python benchmarks/fleet_upload.py --mb 100 --hosts 5
    .venv/bin/python benchmarks/fleet_upload.py --mb 150 --hosts 10 --text

The release is one file of random bytes (what gzip cannot shrink: model weights, wheels),
or with --text of source-like text (a virtualenv: gzip takes it to about a quarter, at
~15 MB/s a core), and the example app; the agents are installed first (a release of the
app alone), then the big one is checked and sent to every host at once, timed.
Controller CPU: this process's user and system seconds over the upload (the hosts' sshds
and tars are other processes). Memory: the process's peak resident size (ru_maxrss)
less its size just before the upload: the fleet's sshds are other processes, so this is
the controller's own.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import APP  # noqa: E402
from tests.support.fleet import Fleet, available  # noqa: E402


def rss_mb() -> float:
    """The process's resident size now (kB in /proc/self/statm pages)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def text_mb() -> bytes:
    """1 MB of source-like text, varied enough that gzip takes it to about a quarter (its
    window is 32 kB: the MB repeated is not found again)."""
    rand, lines, size = random.Random(7), [], 0
    while size < 1 << 20:
        line = (f"    def method_{rand.randrange(10**6)}(self, value={rand.randrange(999)}): "
                f"return self.{rand.choice(WORDS)}_{rand.choice(WORDS)}(value)  "
                f"# {rand.getrandbits(48):012x}\n")
        lines.append(line)
        size += len(line)
    return "".join(lines).encode()[:1 << 20]


WORDS = ["request", "handler", "config", "value", "session", "router", "pool", "state"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--mb", type=int, default=500, help="the release's size")
    parser.add_argument("--text", action="store_true",
                        help="source-like text (compressible), not random bytes")
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    with Fleet(args.hosts) as fleet, tempfile.TemporaryDirectory(prefix="zd-upload-") as tmp:
        runtime = fleet.release_runtime(Path(tmp))
        for version in ("v1", "v2"):
            (Path(tmp) / "releases" / version).mkdir(parents=True)
            shutil.copy(APP, Path(tmp) / "releases" / version / "app.py")
        block = text_mb() if args.text else None
        with open(Path(tmp) / "releases/v2/blob", "wb") as f:
            for _ in range(args.mb):
                f.write(block or os.urandom(1 << 20))
        try:
            runtime.check_release(runtime.config.app, "v1")  # the agents installed
            before = rss_mb()
            if peak_mb() > before + 1:
                print(f"note: peak {peak_mb():.0f} MB before the upload already")
            started, cpu = time.perf_counter(), cpu_s()
            runtime.check_release(runtime.config.app, "v2")
            took, cpu = time.perf_counter() - started, cpu_s() - cpu
            grew = peak_mb() - before
        finally:
            runtime.close()
    load = Path("/proc/loadavg").read_text().split()[0]
    what = "text" if args.text else "random"
    print(f"{args.mb} MB release ({what}) to {args.hosts} hosts: {took:.1f} s, controller "
          f"CPU {cpu:.1f} s, peak "
          f"+{grew:.0f} MB over its {before:.0f} MB before the upload (load average {load})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
