"""Command line: parse, call, render. Errors map to messages and exit codes here only.

    zerodown [-f zerodown.yaml] [--state-dir DIR] [--server URL --token-file F] COMMAND ...

The commands live in zerodown/commands/ (imported only when they run); `proxy`,
`accel` and `demo` are handed their arguments as they are (they have parsers of
their own), their errors mapped here as every command's are.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Callable

from zerodown.errors import ConfigError, UsageError, ZerodownError

PASS_THROUGH = ("proxy", "accel", "demo")


def exit_code(error: ZerodownError) -> int:
    """0 done, 1 the deployment failed or was rolled back, 2 bad usage or configuration.

    A request the current state refuses (a second deployment, resuming one that
    is not paused, an unknown deployment, a strategy with no planner yet) is a
    usage error: retrying the same command will not help until something changes.
    """
    from zerodown.engine.lifecycle import PhaseError
    from zerodown.engine.runner import DeploymentBusy
    from zerodown.engine.store import DeploymentConflict, NotFound
    from zerodown.plan import PlanError
    if isinstance(error, (DeploymentConflict, DeploymentBusy, PhaseError, NotFound, PlanError)):
        return 2
    return error.exit_code


def message(error: ZerodownError, who: str = "zerodown") -> str:
    """A config error starts with its file:line (editors jump there); others say `error:`,
    after `who` (the command a passed-through one is: `zerodown accel`)."""
    if isinstance(error, ConfigError):
        return str(error)
    text = str(error)
    # the controller's answer to a bad config reads as the file's own error does
    if getattr(error, "field", None) in ("config", "set"):
        return text
    return f"{who}: error: {text}"


def _pass_through(name: str, argv: list[str]) -> int:
    if name == "proxy":
        from zerodown.proxy.main import main as run
    elif name == "accel":
        from zerodown.proxy.accel import main as run
    else:
        from zerodown.demo_cli import main as run
    return run(argv)


def os_error(error: OSError, state_dir: Path | None,
             who: str = "zerodown") -> tuple[str, int]:
    """The message and exit code of a file zerodown could not read or write. One in the
    state directory (or a folder it needs made) is the directory's fault, not a failed
    deployment's: it is named as the state directory, with the way out, exit 2."""
    what = f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
    path = Path(os.path.abspath(error.filename)) if error.filename else None
    if state_dir is not None and path is not None and (
            state_dir.is_relative_to(path) or path.is_relative_to(state_dir)):
        return (f"zerodown: error: the state directory {state_dir} cannot be written ({what}); "
                "zerodown keeps its store, logs and sockets there: make it writable, or name "
                "another with --state-dir DIR", 2)
    return f"{who}: error: {what}", 1


def main(argv: list[str] | None = None) -> int:
    """Run a command; its exit code. Without `argv`: this process's own command line (the
    console script, `python -m zerodown`), whose exit follows."""
    if argv is not None:
        return _main(argv)
    code = _main(sys.argv[1:])
    # The interpreter's exit runs the collector over every object the command made and
    # imported: 30-80 ms after its work is done (benchmarks/README.md, session 18). Frozen,
    # they are passed over; what needs closing the command closed (files: `with`).
    gc.freeze()
    return code


def _main(argv: list[str]) -> int:
    if argv[:1] and argv[0] in PASS_THROUGH:  # (its own parser: its errors said here too)
        return said(lambda: _pass_through(argv[0], argv[1:]), f"zerodown {argv[0]}")
    from zerodown.commands import PUBLIC, build_parser, command_in, follow_slip, resolve
    slip = follow_slip(argv)
    if slip is not None:
        print(slip, file=sys.stderr)
        return 2
    named = command_in(argv)
    parser = build_parser(named if named in PUBLIC else None)
    args = parser.parse_args(argv)  # exits 2 with argparse's own message

    def call() -> int:
        func, client = resolve(args.func)
        if client:
            return func(args)
        if args.server:
            raise UsageError(f"zerodown {args.command} works on the controller's machine; "
                             "--server serves status, deploy, pause, resume, promote, abort "
                             "and rollback")
        from zerodown.controller import Controller
        return func(args, Controller(args.file, args.state_dir))

    def state_dir() -> Path | None:
        from zerodown.api.client import state_dir_of
        return None if args.server else Path(state_dir_of(args.file, args.state_dir))

    return said(call, "zerodown", state_dir)


def said(call: Callable[[], int], who: str,
         state_dir: Callable[[], Path | None] = lambda: None) -> int:
    """`call`'s exit code, its errors said as `who`'s and mapped to theirs: the one place
    (a traceback is a bug). `state_dir`: where an OSError is the state directory's fault."""
    try:
        return call()
    except ZerodownError as e:
        sys.stdout.flush()
        print(message(e, who), file=sys.stderr)
        return exit_code(e)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `zerodown history | head`
        return 0
    except OSError as e:  # a file we were asked to write or read
        text, code = os_error(e, state_dir(), who)
        print(text, file=sys.stderr)
        return code
