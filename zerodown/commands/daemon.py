"""`zerodown controller` (start it, run it in the foreground for systemd, stop it) and
`zerodown token` (bearer tokens for its API on TCP)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from zerodown.api.auth import Tokens, TokenError
from zerodown.controller import Controller
from zerodown.daemon import process
from zerodown.errors import UsageError


def cmd_controller(args: argparse.Namespace, ctl: Controller) -> int:
    if args.foreground:
        from zerodown.daemon.main import serve
        code = serve(ctl.file, str(ctl.state_dir), args.api_listen)
        # At once, every thread with it: a runner mid-step must not go on after the
        # controller said it stopped (the next one resumes that step from the store).
        sys.stdout.flush()
        os._exit(code)
    if args.stop:
        pid = process.stop(ctl.state_dir)
        print(f"controller (pid {pid}) stopped" if pid else "no controller was running")
        return 0
    client = process.ensure(ctl.file, ctl.state_dir, args.api_listen)
    status = client.get("/api/v1/status")
    pid = process.pid(ctl.state_dir)
    print(f"controller of {status['service']} runs (pid {pid}), API on "
          f"unix:{client.socket_path}")
    note = process.listen_note(args.api_listen or ctl.config().controller.listen,
                               status.get("dashboard"))
    if note:
        print(note, file=sys.stderr)
    if status.get("dashboard"):
        # The token in the fragment: a browser never sends it, so no access log keeps it.
        print(f"dashboard: {status['dashboard']} (open it once as "
              f"{status['dashboard']}#token=TOKEN, a TOKEN from `zerodown token create NAME`)")
    return 0


def cmd_token(args: argparse.Namespace, ctl: Controller) -> int:
    tokens = Tokens(ctl.state_dir)
    try:
        if args.action == "list":
            known = tokens.load()
            for name, entry in sorted(known.items()):
                print(f"{name}  created {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(entry['created']))}")
            if not known:
                print("no tokens (`zerodown token create NAME` makes one)")
            return 0
        if not args.name:
            raise UsageError(f"zerodown token {args.action} needs a NAME")
        if args.action == "revoke":
            tokens.revoke(args.name)
            print(f"token {args.name} revoked")
            return 0
        token = tokens.create(args.name)
    except TokenError as e:
        raise UsageError(str(e)) from None
    print(token)
    print(f"(token {args.name}: shown once, only its hash is kept in {tokens.path}; "
          "use it as `Authorization: Bearer <token>` or --token-file)", file=sys.stderr)
    return 0
