"""How a command reaches the controller: --server (TCP, a token), or this state dir's unix
socket, starting the controller first when it does not answer (never started, or died)."""

from __future__ import annotations

import argparse
import os

from zerodown.api.client import Client, Unreachable, remote, state_dir_of
from zerodown.errors import UsageError


def state_dir(args: argparse.Namespace) -> str:
    return state_dir_of(args.file, args.state_dir)


def has_state(args: argparse.Namespace) -> bool:
    return os.path.exists(os.path.join(state_dir(args), "zerodown.db"))


def local_client(args: argparse.Namespace) -> Client:
    return Client(socket_path=os.path.join(state_dir(args), "controller.sock"))


def client(args: argparse.Namespace, never_deployed: str | None = None) -> Client:
    """A client of the service's controller. `never_deployed`: the error to raise when
    this state dir has no state yet (instead of starting a controller for nothing)."""
    if args.server:
        return remote(args.server, args.token_file)
    if never_deployed is not None and not has_state(args):
        raise UsageError(never_deployed.format(state_dir=state_dir(args)))
    c = local_client(args)
    try:
        c.request("GET", "/api/v1/openapi.json")
    except Unreachable:
        from zerodown.daemon.process import start
        start(args.file, state_dir(args))
    return c


def check_config(args: argparse.Namespace, strategy: str | None = None,
                 settings: list[str] = ()) -> None:
    """Here, before asking the controller: a bad file or --set is reported as `validate`
    reports it (file:line: key), and nothing starts. Not with --server (not our file)."""
    if args.server:
        return
    from zerodown.controller import Controller
    from zerodown.daemon.actions import overrides
    ctl = Controller(args.file, args.state_dir)
    extra = overrides(ctl.config(), strategy, list(settings))
    if extra:
        ctl.config(extra)
