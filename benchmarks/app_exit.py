"""The example app's exit after SIGTERM, against the same app leaving through the
interpreter's own teardown (sys.exit, as before session 21): wall time from the signal to
the exit, and the process's whole CPU (its boot included; SIGKILL is the floor).

    .venv/bin/python benchmarks/app_exit.py [--samples 11]

Each exit's CPU is taken on the cores a rolling deployment's next batch boots on (the
test fleet's hosts share two), so it matters beyond the exit's own milliseconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "examples" / "app" / "app.py"
EXIT = 'if __name__ == "__main__":\n'


def once(app: Path, sig: signal.Signals) -> tuple[float, float]:
    """(seconds from `sig` to the exit, the process's CPU seconds in its whole life)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(app), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit(f"{app} did not listen on port {port}")
            time.sleep(0.002)
    began = time.monotonic()
    os.kill(proc.pid, sig)
    _, _, usage = os.wait4(proc.pid, 0)
    return time.monotonic() - began, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=11)
    args = parser.parse_args()
    text = APP.read_text()
    if EXIT not in text:
        raise SystemExit(f"{APP}: no `{EXIT.strip()}` block to compare against")
    with tempfile.TemporaryDirectory(prefix="zd-exit-") as tmp:
        peer = Path(tmp) / "app.py"   # the same app, ending as it did before
        peer.write_text(text[:text.index(EXIT)] + EXIT + "    sys.exit(main())\n")
        apps = {"the example app": APP, "with the interpreter's teardown": peer}
        rows = {(name, sig): [] for name in apps for sig in (signal.SIGTERM, signal.SIGKILL)}
        for _ in range(args.samples):   # interleaved: the machine's moods fall on both
            for (name, sig), got in rows.items():
                got.append(once(apps[name], sig))
    for (name, sig), got in rows.items():
        print(f"{name:32} {sig.name:8} exit {statistics.median(g[0] for g in got) * 1000:5.1f} ms, "
              f"CPU in its life {statistics.median(g[1] for g in got) * 1000:5.1f} ms")
    ours = statistics.median(g[0] for g in rows["the example app", signal.SIGTERM])
    theirs = statistics.median(g[0] for g in rows["with the interpreter's teardown", signal.SIGTERM])
    print(f"exit after SIGTERM: {theirs / ours:.1f}x faster without the teardown")
    return 0


if __name__ == "__main__":
    sys.exit(main())
