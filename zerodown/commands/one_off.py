"""`zerodown exec`: a one-off command where the app runs (a migration, a console, a check).

    zerodown exec -- bin/migrate                 # on one host: the first of runtime.hosts that answers
    zerodown exec --all -- cat .ruby-version     # on every host at once, `app2 | ...` per line
    zerodown exec --host app2 --version v7 -- bin/check
    zerodown exec -i --host app2 -- bin/rails console   # this terminal's, as ssh -t

It runs in the stable revision's version (or --version's), in the working directory its
instances use (on a host: the release folder there, app.cwd inside it; locally: the
release folder or app.cwd here), with their environment less what only an instance has
(runtimes/one_off.py says exactly what). On a fleet each line is prefixed with its host
(as `zerodown logs`), each host's lines shown together in runtime.hosts' order, the first
host's as they are written (commands/in_order.py); the command's stdin is /dev/null
there, but with -i (one host): then it is this stdin, and from a terminal a
pseudo-terminal there, this one raw meanwhile (hosts/console.py), the output unprefixed.
Locally it is this terminal's: a console works, Ctrl-C reaches it.
It exits with the command's own exit status (on several hosts the highest of theirs,
as `pdsh -S`), 128 + the signal that killed it, 124 past --timeout, 255 where it did not
run or its end is unknown (no answer: unknown is never success), with a line per host
that failed saying how (hosts/one_off.py exit_status). Past --timeout (or when this
command goes away) the command's whole process group is stopped (SIGTERM, then
SIGKILL): zerodown/hosts/one_off.py.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time

from zerodown.commands.in_order import InOrder
from zerodown.controller import Controller, snapshot_config
from zerodown.errors import HostFailure, HostUnreachable, RuntimeFailure, UsageError
from zerodown.hosts import one_off as runner
from zerodown.runtimes.one_off import Prefixed, chosen_hosts, command_words, fill, \
    first_answering, local_cwd, remote_cwd
from zerodown.runtimes.release import instance_env

# How long at least the hosts listed before the first that answered are waited for: two
# healthy hosts' answers (~0.07 s on the test fleet) differ by up to ~2x under load (a
# scheduling hiccup of ~0.06 s), and "as long again" alone then took the later-listed one
LISTED_FIRST_GRACE = 0.5


def cmd_exec(args: argparse.Namespace, ctl: Controller) -> int:
    cfg = ctl.config()
    argv = command_words(args.argv)
    if cfg.runtime.kind != "ssh" and (args.all or args.host is not None):
        raise UsageError(f"--all and --host pick hosts of runtime: ssh; runtime "
                         f"{cfg.runtime.kind} runs the command on this machine")
    version, run_cfg = _target(ctl, cfg, args.version)
    if cfg.runtime.kind == "ssh":
        return _on_fleet(args, ctl.runtime(cfg), run_cfg, version, argv)
    return _here(args, run_cfg, version, argv)


def _target(ctl: Controller, cfg, version: str | None):
    """(the version to run in, the config whose app it runs with): the stable revision's,
    or --version's (its newest revision's, or the file's for a version never deployed)."""
    store = ctl.store() if ctl.has_state() else None
    stable = store.stable(cfg.service)[0] if store is not None else None
    if store is None or stable is None:
        raise UsageError(f"service {cfg.service}: nothing is deployed yet (`zerodown up` "
                         f"starts the first version); exec runs in a deployed version")
    if version is None:
        return store.revision(cfg.service, stable).version, \
            snapshot_config(store, cfg.service, stable)
    known = [r.number for r in store.revisions(cfg.service) if r.version == version]
    return version, snapshot_config(store, cfg.service, known[-1]) if known else cfg


def _dropped(names: tuple[str, ...]) -> None:
    if names:
        print(f"zerodown exec: not set: {', '.join(names)} (app.env values with {{port}}, "
              f"{{slot}} or {{instance}}, which only an instance has)", file=sys.stderr)


def _here(args: argparse.Namespace, cfg, version: str, argv: list[str]) -> int:
    """The local runtime: here, on this terminal (a console works), without prefixes."""
    from zerodown.runtimes.local import HOST
    app, dropped = fill(cfg.app, version, HOST)
    cwd, env = local_cwd(cfg, app), instance_env(cfg, app)
    _dropped(dropped)
    sys.stdout.flush()
    outcome = runner.run(argv, cwd, env, args.timeout,
                         terminal=0 if os.isatty(0) else None)
    why = runner.outcome_text(outcome, argv[0])
    if why is not None:
        print(f"zerodown exec: {why}", file=sys.stderr)
    return runner.exit_status(outcome)


def _on_fleet(args: argparse.Namespace, runtime, cfg, version: str, argv: list[str]) -> int:
    hosts = chosen_hosts(runtime.names, args.all, args.host, args.interactive) or \
        [_first_answering(runtime)]
    runtime.check_owner(hosts)  # another controller's service there: not run
    app, dropped = fill(cfg.app, version, "")  # refused here, before any host, if it must be
    instance_env(cfg, app)  # a secret or env_file missing: said once, not per host
    _dropped(dropped)
    base = f"{runtime.release_base}/{version}" if app.release else runtime.remote_dir

    def request(host: str) -> dict:
        filled, _ = fill(cfg.app, version, runtime.address_of(host))
        return {"argv": argv, "cwd": remote_cwd(base, filled), "timeout": args.timeout,
                "env": instance_env(cfg, filled), "release": base if app.release else None,
                "stdin": args.interactive}
    # bounded: its --timeout, the stop of its group, and a remote step's own bound
    bound = args.timeout + 2 * runner.KILL_GRACE + runtime.options.command_timeout
    if args.interactive:
        return _console(runtime.host_named(hosts[0]), request(hosts[0]), bound, argv[0])
    width, shown = max(len(h) for h in hosts), InOrder(hosts, sys.stdout.buffer)

    def one(host: str) -> dict:
        lines = Prefixed(host, width)
        try:
            return _asked(lambda: runtime.host_named(host).one_off(
                request(host), lambda data: shown.write(host, lines.lines(data)), bound))
        finally:
            shown.write(host, lines.rest())
            shown.end(host)
    outcomes: dict[str, dict] = {}
    # daemon threads: on Ctrl-C this process exits at once, its connections close, and each
    # host's command sees its stdin end and is stopped there (a pool's would be waited for)
    threads = [threading.Thread(target=lambda h=h: outcomes.__setitem__(h, one(h)),
                                name=f"exec {h}", daemon=True) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = {h: why for h in hosts if (why := runner.outcome_text(outcomes[h], argv[0]))}
    for host, why in failed.items():
        print(f"zerodown exec: {host}: {why}", file=sys.stderr)
    return max(runner.exit_status(outcomes[h]) for h in hosts)


def _console(host, request: dict, bound: float, what: str) -> int:
    """One host's command given this stdin: with a terminal, a pseudo-terminal there and
    this one raw meanwhile (hosts/console.py); its output as it is, without a prefix."""
    out = sys.stdout.buffer

    def show(data: bytes) -> None:
        out.write(data)
        out.flush()
    sys.stdout.flush()
    if os.isatty(0):
        from zerodown.hosts.console import LocalTerminal  # asyncssh's: not for runtime local
        with LocalTerminal(0) as term:
            outcome = _asked(lambda: host.one_off(request, show, bound, stdin=0, term=term))
    else:
        outcome = _asked(lambda: host.one_off(request, show, bound, stdin=0))
    why = runner.outcome_text(outcome, what)
    if why is not None:
        print(f"zerodown exec: {host.name}: {why}", file=sys.stderr)
    return runner.exit_status(outcome)


def _asked(ask) -> dict:
    """A host's outcome, or what kept it from saying one (an outcome of its own)."""
    try:
        return ask()
    except HostUnreachable as e:  # no connection opened: nothing was sent, nothing ran
        return {"error": f"not run: {e}"}
    except HostFailure as e:
        return {"error": f"did not answer ({e}): whether the command ran or ended is unknown"}
    except RuntimeFailure as e:
        return {"error": str(e)}


def _first_answering(runtime) -> str:
    """The first of runtime.hosts that answers now (Kamal's primary, but one that works).
    Every host is asked at once: a silent first host costs about one answer's time (at
    least LISTED_FIRST_GRACE), not runtime.connect_timeout. Once one answers, the hosts
    listed before it still being asked are waited for as long again as that answer took,
    and at least LISTED_FIRST_GRACE, so a healthy fleet's first host stays the default
    (runtime.hosts order), then the first listed that answered is taken."""
    asked: queue.Queue[tuple[str, bool]] = queue.Queue()
    for name in runtime.names:  # daemon threads: a silent host's question is not waited for
        threading.Thread(target=_ask, args=(runtime, name, asked), name=f"ask {name}",
                         daemon=True).start()
    said: dict[str, bool] = {}
    started, until = time.monotonic(), None
    while len(said) < len(runtime.names):
        try:
            name, answered = asked.get(timeout=None if until is None else
                                       max(until - time.monotonic(), 0))
        except queue.Empty:
            break
        said[name] = answered
        if answered and until is None:
            now = time.monotonic()
            until = now + max(now - started, LISTED_FIRST_GRACE)
        found = first_answering(runtime.names, said)
        if found is not None:
            return found
    for name in runtime.names:
        if said.get(name):
            return name
    raise RuntimeFailure(f"no host of runtime.hosts answers ({', '.join(runtime.names)}): "
                         f"the command ran nowhere (`zerodown hosts` says why)")


def _ask(runtime, name: str, asked: queue.Queue) -> None:
    """Put whether `name` answers. A check that raised (its connection's loop gone, a
    bound of its own passed) did not answer: the put must come whatever happens, or
    _first_answering, with no answer yet to bound its wait, would wait for it for ever."""
    answered = False
    try:
        answered = bool(runtime.answers(name))
    except Exception:  # as silent as a host that did not answer: `zerodown hosts` says why
        pass
    finally:
        asked.put((name, answered))
