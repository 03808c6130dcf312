"""How a command reaches the controller: --server (TCP, a token), or this state dir's unix
socket, starting the controller first when none runs (never started, or died: nothing holds
controller.lock); a running one that does not answer is named busy (daemon/process.ensure)."""

from __future__ import annotations

import argparse
import os

from zerodown.api.client import Client, remote, state_dir_of
from zerodown.errors import UsageError


def state_dir(args: argparse.Namespace) -> str:
    return state_dir_of(args.file, args.state_dir)


def has_state(args: argparse.Namespace) -> bool:
    return os.path.exists(os.path.join(state_dir(args), "zerodown.db"))


def local_client(args: argparse.Namespace) -> Client:
    return patient_client(Client(socket_path=os.path.join(state_dir(args), "controller.sock")))


def patient_client(c: Client) -> Client:
    """`c`, each request of which tells a controller at work on it (its status answers)
    from one that answers no more, said within seconds (api/patience.py)."""
    from zerodown.api.patience import patient
    c.patient = lambda method, path: patient(c, method, path)
    return c


def client(args: argparse.Namespace, never_deployed: str | None = None) -> Client:
    """A client of the service's controller. `never_deployed`: the error to raise when
    this state dir has no state yet (instead of starting a controller for nothing)."""
    if args.server:
        return patient_client(remote(args.server, args.token_file))
    if never_deployed is not None and not has_state(args):
        raise UsageError(never_deployed.format(state_dir=state_dir(args)))
    from zerodown.daemon.process import ensure
    return patient_client(ensure(args.file, state_dir(args)))


def check_config(args: argparse.Namespace):
    """Here, before asking the controller: a bad file, a broken file it names (a
    certificate), --set or strategy flag is reported as `validate` reports it (file:line:
    key, or the flag as typed), and nothing starts; a change of strategy kind that drops
    options of the file's says so. Not with --server (not our file).

    The config alone, not a Controller: zerodown.controller imports the engine, the
    store, every router and runtime (~0.2 s of a deploy's start-up), none of it used here.
    Returns the config read (None with --server)."""
    if args.server:
        return None
    import dataclasses
    from zerodown.config import apply_overrides, load_config
    from zerodown.config_files import check_files
    # as Controller.config: the file named as typed while it loads, absolute after
    cfg = dataclasses.replace(load_config(args.file), file=os.path.abspath(args.file))
    extra, typed = strategy_settings(cfg, args)
    if extra:
        apply_overrides(cfg, extra, typed)
    check_files(cfg)
    return cfg


def release_wait(args: argparse.Namespace, cfg=None) -> float:
    """How long a command that makes a deployment (deploy, rollback, up) waits for the
    controller's answer while the controller answers (api/patience.py): on a fleet the
    controller pre-flights every host and uploads the version's release first, bounded by
    the ssh options (runtimes/ssh_options.py: release_check_bound), and a host cut off
    mid-upload is named only once the upload's command_timeout ends. The usual 30 s
    (api/client.TIMEOUT) said "the controller is busy ... ask again later" and went away
    before that refusal, which then reached nobody. The usual wait otherwise (runtime
    local: nothing is sent; --server: not our file)."""
    from zerodown.api.client import TIMEOUT
    if getattr(args, "server", None):
        return TIMEOUT
    from zerodown.errors import ZerodownError
    from zerodown.runtimes.ssh_options import parse_options, release_check_bound
    try:
        if cfg is None:
            from zerodown.config import load_config
            cfg = load_config(args.file)
        if cfg.runtime.kind != "ssh":
            return TIMEOUT
        return TIMEOUT + release_check_bound(parse_options(cfg.runtime.options))
    except ZerodownError:  # the controller reads the file too, and says what is wrong
        return TIMEOUT


def deploy_patience(c: Client, args: argparse.Namespace, asked: str, cfg=None):
    """The patience of a request that makes a deployment (api/patience.py): waited for up
    to release_wait while the controller answers, and no more than a few seconds past the
    moment it stops answering."""
    from zerodown.api.client import TIMEOUT
    from zerodown.api.patience import Patience
    bound = release_wait(args, cfg)
    return Patience(c, asked, bound, "each host is pre-flighted and given the release first"
                    if bound > TIMEOUT else None)


def strategy_settings(cfg, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """(the settings --strategy, the strategy flags and --set make, {setting: as typed}),
    saying on stderr which of the file's strategy options a change of kind drops."""
    import sys
    from zerodown.commands.strategy_flags import settings
    from zerodown.strategies.kind_switch import dropped_note, kind_asked, strategy_overrides
    made, typed = settings(args)
    extra, dropped = strategy_overrides(cfg.source.get("strategy"), cfg.strategy.kind,
                                        args.strategy, made)
    if extra[:1] != made[:1] and extra:  # a change of kind: its errors name the flag
        typed = {**typed, extra[0]: f"--strategy {args.strategy}" if args.strategy
                 else next(f"--set {m}" for m in made if m.startswith("strategy.kind="))}
    kind = kind_asked(args.strategy, made)
    if dropped and kind is not None:  # (a kind asked is what drops options)
        print(dropped_note(kind, cfg.strategy.kind, dropped), file=sys.stderr)
    return extra, typed
