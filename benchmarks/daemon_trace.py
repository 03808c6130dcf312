"""The command line and the controller daemon run with their parts timed (CallTrace), for
fleet_cli_deploy.py --trace: where `zerodown deploy` spends its time outside the steps.

    python benchmarks/daemon_trace.py cli OUT ZERODOWN-ARGS...      # a command, traced
    python benchmarks/daemon_trace.py controller OUT FILE STATE-DIR # `controller --foreground`

Each writes its calls to OUT as JSON ([start, end, name, thread], CLOCK_MONOTONIC: one
clock for every process of this machine, so the caller lines them up with its own): the
command at its exit, the controller at each SIGUSR1 (and then forgets them). The command's
first mark is this script's start, after the interpreter's; its imports are the gap before
the first call.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

STARTED = time.monotonic()
sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH's zerodown

from benchmarks.call_trace import CallTrace  # noqa: E402


def dump(trace: CallTrace, out: str) -> None:
    with trace._lock:
        calls, trace.calls = trace.calls, []
    Path(out + ".part").write_text(json.dumps(calls))
    os.replace(out + ".part", out)  # whole, or not there yet


def cli(out: str, argv: list[str]) -> int:
    from zerodown import cli as main
    from zerodown.api import client
    from zerodown.commands import connect, deploying, follow
    from zerodown.daemon import process
    trace = CallTrace()
    trace.calls.append((STARTED, STARTED, "the script began (the interpreter started)",
                        "MainThread"))
    trace.wrap_module(connect, "check_config")
    trace.wrap_module(deploying, "client", "_create", "watch")
    trace.wrap_module(process, "ensure")
    trace.wrap_module(follow, "_with_proof")
    trace.wrap_class(follow.Follower, "poll")
    exchange = client.Client.exchange

    def named(self, method, path, body=None):  # each request by its path
        t0 = time.monotonic()
        try:
            return exchange(self, method, path, body)
        finally:
            trace._record(f"{method} {path.split('?')[0]}", t0)
    client.Client.exchange = named
    try:
        return main.main(argv)
    finally:
        dump(trace, out)


def controller(out: str, file: str, state_dir: str) -> int:
    from zerodown import controller as wiring
    from zerodown.api.routes import Api
    from zerodown.daemon import actions, main, runs
    from zerodown.engine.runner import Engine
    from zerodown.engine.store import Store
    from zerodown.runtimes.ssh import SshRuntime
    trace = CallTrace()
    trace.wrap_class(wiring.Controller, "config", "working_config", "open_store", "router",
                     "runtime", "ensure_router", "engine", "close")
    trace.wrap_module(wiring, "load_config", "recover")
    trace.wrap_module(actions, "check_files", "overrides")
    trace.wrap_class(actions.Actions, "deploy")
    trace.wrap_class(Api, "deployment", "events", "status")
    trace.wrap_class(runs.Runner, "_drive")
    trace.wrap_class(Engine, "deploy", "run", "recover", "_start", "_advance", "_await_stops")
    trace.wrap_class(Store, "create_deployment")
    trace.wrap_class(SshRuntime, "check_release", "adopt")
    signal.signal(signal.SIGUSR1, lambda *_: dump(trace, out))
    return main.serve(file, state_dir)


if __name__ == "__main__":
    mode, out, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    code = cli(out, rest) if mode == "cli" else controller(out, *rest)
    sys.stdout.flush()
    os._exit(code)  # as cmd_controller: every thread with it
