"""`zerodown deploy vN` as a user runs it, through the controller daemon, across the test
fleet under load: its time beside the deployment's critical path and beside the
in-process Engine's figure of the same run (fleet_deploy.py), as ratios (issue 14).

    .venv/bin/python benchmarks/fleet_cli_deploy.py            # as root: rolling, blue-green, canary
    .venv/bin/python benchmarks/fleet_cli_deploy.py --only rolling --rounds 3 --moments

For each strategy, on the test fleet (tests/support/fleet.py, as tests/fleet/ runs the
CLI against it): fleet_deploy.py's rounds in process first (v1, v2 under load, v3
without: its figures of the same run), then the same service (fleet_deploy.config_text)
driven by the command line, as tests/support/cli.Service runs it: `zerodown up` (v1,
which starts the controller daemon), `zerodown deploy v2` while a load generator (8
connections, in a process of its own) counts every response, `zerodown deploy v3`
without load, `zerodown down`. Each deploy is timed twice:

- the command, as its user waits for it: the CLI process from its fork to its exit;
- the deployment's own run as the daemon records it: from its phase event "running"
  (the runner took it) to its terminal phase event, in the store's event log.

Beside them its critical path (fleet_path.critical_path: the app's own boot on the
hosts, pauses, the last exit), measured in the same conditions right after it (under
the load for v2), and the in-process deploy+run of the same strategy and load. A
blue/green command returns at the switch, the controller keeping blue for
scale_down_delay after it: its ratio is to its critical path up to the switch (the
daemon's run, and the in-process figure, go on to the end).

--moments prints where the command's time went, from the store's records and the
command's fork and exit (wall clock; the fleet's hosts share this machine's): the
command's start-up, its config check and the API request up to the deployment's
creation; the runner taking it; its steps; the end; its proof; the command learning it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.api.client import Client  # noqa: E402
from zerodown.controller import Controller  # noqa: E402
from zerodown.daemon.process import answers, socket_path  # noqa: E402
from zerodown.loadgen import LoadInProcess  # noqa: E402
from zerodown.plan import Pause  # noqa: E402
from benchmarks.fleet_deploy import HOSTS, LABELS, STRATEGIES, config_text, one  # noqa: E402
from benchmarks.fleet_path import critical_path, critical_paths  # noqa: E402
from tests.support.cli import Service  # noqa: E402
from tests.support.fleet import Fleet, available  # noqa: E402
from tests.support.net import wait_until  # noqa: E402
from benchmarks.call_trace import CallTrace  # noqa: E402

TERMINAL = ("succeeded", "failed", "rolled_back", "aborted")
REPO = Path(__file__).resolve().parent.parent
TRACER = REPO / "benchmarks" / "daemon_trace.py"
SETTLE = 300
LOOKING = ("observer", "probes", "watchdog", "host-watch", "tls-watch")  # daemon threads  # responses answered before and after the deployment, as Stack.under_load


class Timed:
    """`zerodown ARGS` run to its end: its fork (wall clock and monotonic), seconds to its
    exit, CPU seconds, output. SystemExit naming it if it failed. `traced`: run by
    daemon_trace.py, its calls then in `calls`."""

    def __init__(self, s: Service, *args: str, traced: Path | None = None):
        argv = s.argv(*args)
        if traced is not None:
            argv = [argv[0], str(TRACER), "cli", str(traced), *argv[3:]]
        with tempfile.TemporaryFile() as out:
            self.wall, self.began = time.time(), time.monotonic()
            proc = subprocess.Popen(argv, cwd=s.root, env=s.env, stdout=out,
                                    stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            self.took = time.monotonic() - self.began
            out.seek(0)
            self.output = out.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"zerodown {' '.join(args)} exited {status}:\n{self.output}")
        self.cpu = usage.ru_utime + usage.ru_stime
        self.calls = json.loads(traced.read_text()) if traced is not None else []


def moments(store, id: int, forked: float, took: float) -> list[tuple[str, float]]:
    """The deployment's moments, in seconds after the command's fork (wall clock)."""
    events = store.events(deployment=id)
    steps = store.steps(id)
    phases = [(e.data.get("to"), e.time) for e in events if e.kind == "phase"]
    at = [("created (the API request's plan and pre-flight done)",
           next(e.time for e in events if e.kind == "deployment.created")),
          ("running (the runner took it)", next(t for to, t in phases if to == "running")),
          ("first step began", steps[0].started_at),
          ("last step ended", steps[-1].finished_at),
          ("ended (terminal phase)", next(t for to, t in phases if to in TERMINAL))]
    proof = [e.time for e in events if e.kind == "proof"]
    at += [("proof written", proof[0])] if proof else []
    return [(what, t - forked) for what, t in at] + [("the command exited", took)]


def cli_deploy(s: Service, version: str, samples: int, daemon: Traced | None = None) -> dict:
    """`zerodown deploy VERSION` timed; its run as recorded; its critical path measured.
    With `daemon` (--trace), the command's calls and the daemon's, lined up."""
    run = Timed(s, "deploy", version, traced=daemon and s.root / "cli-trace.json")
    calls = run.calls + (daemon.calls() if daemon else [])
    with closing(Controller(str(s.file), str(s.state_dir))) as ctl:
        cfg = ctl.config()
        store = ctl.store()
        id = store.deployments(cfg.service, limit=1)[0].id
        # blue/green's command returns at the switch, blue kept for scale_down_delay: the
        # run goes on (and the critical path counts that pause)
        d = wait_until(lambda: (got := store.deployment(id)).phase.terminal and got, 30,
                       f"deployment {id} ended")
        at = sorted(moments(store, d.id, run.wall, run.took), key=lambda m: m[1])
        run_s = dict(at)["ended (terminal phase)"] - dict(at)["running (the runner took it)"]
        # what critical_path reads of a Stack: an ssh runtime of its own, an engine over the
        # daemon's store (its revisions), the router (whether it reports in-flight requests)
        measuring = SimpleNamespace(config=cfg, runtime=ctl.runtime(cfg), router=ctl.router(cfg),
                                    engine=ctl.engine(cfg))
        paths = critical_paths(measuring, d, samples)
        return {"phase": d.phase.value, "cli_s": run.took, "cli_cpu_s": run.cpu,
                "run_s": run_s, **paths, "moments": at, "output": run.output,
                "command_path_s": to_switch(measuring, d, samples) or paths["critical_path_s"],
                "calls": trace_lines(calls, run.began)}


def to_switch(stack, d, samples: int) -> float | None:
    """A blue/green deployment's critical path up to its switch (its first pause: blue
    kept for scale_down_delay), where `zerodown deploy` returns; None for the others."""
    pauses = [i for i, step in enumerate(d.steps) if isinstance(step, Pause)]
    if d.strategy.get("kind") != "blue-green" or not pauses:
        return None
    return critical_path(stack, d.to_revision, d.steps[:pauses[0]], samples)[0]


class Traced:
    """The service's controller daemon run by daemon_trace.py (in place of the one `up`
    started): its calls since the last ask."""

    def __init__(self, s: Service):
        Timed(s, "controller", "--stop")
        self.out = s.root / "controller-trace.json"
        argv = [sys.executable, str(TRACER), "controller", str(self.out), str(s.file),
                str(s.state_dir)]
        with open(s.root / "traced-controller.log", "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=s.root, env=s.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: answers(Client(socket_path=socket_path(s.state_dir))), 15,
                   "the traced controller answers")

    def calls(self) -> list:
        self.out.unlink(missing_ok=True)
        os.kill(self.proc.pid, signal.SIGUSR1)
        wait_until(self.out.exists, 5, "the traced controller wrote its calls")
        return json.loads(self.out.read_text())


def trace_lines(calls: list, began: float) -> list[str]:
    """The calls, in ms after the command's fork, but the daemon's threads that look every
    few hundred ms whatever happens (their calls take microseconds)."""
    trace = CallTrace()
    trace.began = began
    trace.calls = [tuple(c) for c in calls if c[3] not in LOOKING and c[0] >= began]
    return trace.lines()


def through_cli(fleet: Fleet, name: str, samples: int, interval: str,
                trace: bool = False, tree: Path = REPO) -> dict:
    """v1 up, v2 deployed under load, v3 without, all by the command line (and the
    daemon) of the zerodown in `tree`."""
    with tempfile.TemporaryDirectory(prefix="zd-fleet-cli-") as tmp:
        fleet.forget_owners()  # each round's state folder is another controller (hosts/owner.py)
        s = Service(Path(tmp))
        s.env["PYTHONPATH"] = str(tree)
        s.file.write_text(config_text(fleet, name, interval))
        try:
            Timed(s, "up")
            daemon = Traced(s) if trace else None
            with closing(Controller(str(s.file), str(s.state_dir))) as ctl:
                url = f"http://{ctl.config().listen}/"
            with LoadInProcess(url, connections=8, duration=120) as load:
                load.wait_for_responses(SETTLE)
                loaded = cli_deploy(s, "v2", samples, daemon)
                load.wait_for_responses(load.progress()[0] + SETTLE)
                result = load.stop()
            quiet = cli_deploy(s, "v3", samples, daemon)
        finally:
            left = s.cleanup()
            fleet.kill_apps_and_agents()
    if left:
        raise SystemExit(f"processes left after zerodown down: {left}")
    return {"failed": result.failed(), "requests": result.sent, "loaded": loaded,
            "quiet": quiet}


def report(name: str, cli: dict, engine: dict, show_moments: bool, trace: bool) -> None:
    """One strategy's rows: the command, the daemon's run and the in-process Engine, each
    against its own deployment's critical path."""
    for key in ("loaded", "quiet"):
        c, e = cli[key], engine[key]
        path, command = c["critical_path_s"], c["command_path_s"]
        switch = f" (its path to the switch {command:5.3f} s)" if command != path else ""
        print(f"{name:10} {LABELS[key]:12} {c['phase']:9} zerodown deploy {c['cli_s']:5.3f} s"
              f"{switch} (ratio {c['cli_s'] / command:.2f}, CPU {c['cli_cpu_s'] * 1000:.0f} ms), "
              f"the daemon's run {c['run_s']:5.3f} s (ratio {c['run_s'] / path:.2f}); critical "
              f"path {path:5.3f} s ({c['parts']}); overhead of the command "
              f"{(c['cli_s'] - command) * 1000:.0f} ms, of the run "
              f"{(c['run_s'] - path) * 1000:.0f} ms")
        print(f"{'':10} {'':12} {'':9} in process (Engine) {e['deploy_s']:5.3f} s, critical path "
              f"{e['critical_path_s']:5.3f} s, ratio {e['ratio']:.2f}; command / in process "
              f"{c['cli_s'] / e['deploy_s']:.2f}")
        if show_moments:
            print("\n".join(f"{'':12} {t:7.3f} s  {what}" for what, t in c["moments"]))
        if trace:
            print(f"{name} {LABELS[key]}, the calls of the command and of the daemon, in ms "
                  "after the command's fork:")
            print("\n".join(c["calls"]))
    print(f"{name:10} failed {cli['failed']} of {cli['requests']} requests through the "
          f"command, {engine['failed']} of {engine['requests']} in process", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(STRATEGIES))
    parser.add_argument("--rounds", type=int, default=1, help="each strategy this many times")
    parser.add_argument("--samples", type=int, default=3, help="app start measurements per batch")
    parser.add_argument("--interval", default="20ms", help="health.interval (as fleet_deploy.py)")
    parser.add_argument("--moments", action="store_true",
                        help="print where each command's time went (see the docstring)")
    parser.add_argument("--compare", type=Path, metavar="TREE",
                        help="instead of the in-process figure, the command path of another "
                             "checkout's zerodown (a git worktree of the commit before a "
                             "change), each round in turn with this one's")
    parser.add_argument("--trace", action="store_true",
                        help="run the command and the daemon timing their parts "
                             "(daemon_trace.py) and print their calls")
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    # As an installed zerodown runs (pip compiles it): the commands' and the daemon's
    # imports read bytecode, compiled once by the first command, not every module's source.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with Fleet(HOSTS) as fleet, tempfile.TemporaryDirectory(prefix="zd-pyc-") as pyc:
        os.environ["PYTHONPYCACHEPREFIX"] = pyc
        for round in range(args.rounds):
            for name in [args.only] if args.only else list(STRATEGIES):
                if args.compare:
                    compare(fleet, name, args, round)
                    continue
                engine = one(fleet, name, args.samples, args.interval)
                fleet.kill_apps_and_agents()
                cli = through_cli(fleet, name, args.samples, args.interval, args.trace)
                report(name, cli, engine, args.moments, args.trace)
    return 0


def compare(fleet: Fleet, name: str, args: argparse.Namespace, round: int) -> None:
    """The command path of this tree and of --compare's, one after the other (which one
    first alternates by round): a pair of figures in the same conditions."""
    trees = [("this", REPO), ("compared", args.compare.resolve())]
    for label, tree in trees[::-1] if round % 2 else trees:
        cli = through_cli(fleet, name, args.samples, args.interval, args.trace, tree)
        for key in ("loaded", "quiet"):
            c = cli[key]
            print(f"{name:10} {LABELS[key]:12} {label:8} zerodown deploy {c['cli_s']:5.3f} s "
                  f"(ratio {c['cli_s'] / c['command_path_s']:.2f}), the daemon's run "
                  f"{c['run_s']:5.3f} s (ratio {c['run_s'] / c['critical_path_s']:.2f}), "
                  f"critical path {c['critical_path_s']:5.3f} s; failed {cli['failed']}",
                  flush=True)
            if args.moments:
                print("\n".join(f"{'':12} {t:7.3f} s  {what}" for what, t in c["moments"]))


if __name__ == "__main__":
    sys.exit(main())
