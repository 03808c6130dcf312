"""`zerodown status`: one GET of /api/v1/status, rendered by the controller (`?format=text`).
The fast path of the CLI: this module imports the API client and colour.py only, not even the renderer
(benchmarks/controller_bench.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from zerodown import colour
from zerodown.api.client import Client, Unanswered, Unreachable
from zerodown.commands.connect import client, has_state, local_client, state_dir


def cmd_status(args: argparse.Namespace) -> int:
    c = _client(args)
    paint = colour.paint if not args.json and colour.wanted(sys.stdout, args.no_color) \
        else str
    if not args.watch:
        print(paint(_text(c, args)))
        return 0
    tty, last = sys.stdout.isatty(), None
    while True:  # Ctrl-C: cli.py says `interrupted`, exit 130, as every command
        text = _text(c, args)
        if tty:
            sys.stdout.write("\x1b[H\x1b[2J" + paint(text) + "\n")
        elif text != last:  # piped: a new block only when something changed
            sys.stdout.write(("\n" if last is not None else "") + text + "\n")
        sys.stdout.flush()
        last = text
        time.sleep(args.interval)


def _client(args: argparse.Namespace) -> Client:
    return client(args) if args.server else local_client(args)


def _text(c: Client, args: argparse.Namespace) -> str:
    """One GET; a controller that does not answer is started (it died), unless nothing was
    ever deployed here, or `zerodown down` stopped it: then this machine's state says it."""
    path = "/api/v1/status?fresh=1" + ("" if args.json else "&format=text")
    try:
        answer = c.text(path)
    except Unanswered:  # it runs and is busy (its message says so): never asked twice
        raise
    except Unreachable:
        if args.server:
            raise
        if not has_state(args):
            return _local(args, _here(args))  # never deployed: says so, and where it would run
        if os.path.exists(os.path.join(state_dir(args), "controller.down")):
            return _local(args, _here(args))  # a look starts nothing
        answer = client(args).text(path)
    return json.dumps(json.loads(answer), indent=2) if args.json else answer.rstrip("\n")


def _local(args: argparse.Namespace, doc: dict) -> str:
    from zerodown import colour, render, views
    if args.json:
        return json.dumps(doc, indent=2)
    return render.status_text(views.status_from_dict(doc, time.time()), time.time())


def _here(args: argparse.Namespace) -> dict:
    """The status read on this machine, without a controller (the service is down)."""
    from zerodown import views
    from zerodown.controller import Controller
    from zerodown.gather import status_view
    view = status_view(Controller(args.file, args.state_dir))
    return {**views.status_dict(view, time.time()), "dashboard": None, "revisions": []}
