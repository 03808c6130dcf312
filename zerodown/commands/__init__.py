"""The `zerodown` subcommands: one argparse parser, and where the function behind each lives.

A command is named as "module:function" and imported only when it runs, so
`zerodown status` loads the API client and nothing heavy (no yaml, sqlite or
asyncio). Functions in `CLIENT_MODULES` take (args) and talk to the controller
daemon over its API; the others take (args, controller) and work on this
machine's state. Errors are raised, never printed here: cli.main turns them
into one message and an exit code.
"""

from __future__ import annotations

import argparse
import os

import zerodown
from zerodown.commands import arguments, strategy_flags
from zerodown.commands.examples import epilog

# Every kind `strategy.kind` accepts, ab-test included: zerodown.strategies.options.STRATEGIES,
# written out so that parsing a command imports no planner (tests/unit/test_cli_parser.py).
STRATEGY_KINDS = ("in-place", "rolling", "blue-green", "canary", "ab-test")
PUBLIC = ("init", "validate", "up", "deploy", "plan", "status", "pause", "resume", "promote",
          "abort", "rollback", "history", "logs", "exec", "down", "controller", "token", "schema",
          "completion", "proxy", "accel", "demo", "hosts")
PASS_THROUGH_HELP = {
    "proxy": "run the embedded load balancer on its own, or drive a running one "
             "(table, deploy, list, services, remove): docs/proxy.md",
    "accel": "compile the proxy's hot path with mypyc (build), or say if it is in use (status)",
    "demo": "deploy the example service with every strategy under load, and measure each",
}
WATCH_INTERVAL = 1.0
EXEC_TIMEOUT = 3600.0  # s: `zerodown exec`'s default bound (a long migration fits)
# Commands of these modules are clients of the controller: func(args).
CLIENT_MODULES = ("zerodown.commands.status", "zerodown.commands.deploying",
                  "zerodown.commands.completion")


def _common(p: argparse.ArgumentParser) -> None:
    """-f/--file and --state-dir after the command too (SUPPRESS: absent, the global holds).
    -f means --file everywhere (logs follows with --follow only)."""
    p.add_argument("-f", "--file", dest="file", default=argparse.SUPPRESS, metavar="FILE",
                   help="the service's zerodown.yaml (default ./zerodown.yaml)")
    p.add_argument("--state-dir", default=argparse.SUPPRESS, metavar="DIR",
                   help="where zerodown keeps state (default .zerodown beside the file)")
    p.add_argument("--no-color", action="store_true", default=argparse.SUPPRESS,
                   help="no colour (also NO_COLOR=1; never any into a pipe or file)")


def _deployment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true",
                   help="if another deployment runs, wait for it to end instead of refusing")
    p.add_argument("--detach", action="store_true",
                   help="return once the controller has the deployment; do not follow it")
    p.add_argument("-m", "--reason", metavar="TEXT",
                   help="why (kept with who asked; `history` shows it)")


def _allow_downtime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-downtime", action="store_true",
                   help="accept a plan that routes nothing at some step (every request gets "
                        "503 meanwhile), e.g. in-place with batch_size equal to instances")


def _strategy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", choices=STRATEGY_KINDS, metavar="KIND",
                   help=f"another strategy kind than the file's ({', '.join(STRATEGY_KINDS)}); "
                        "the file's options the kind has are kept, others dropped (it says so)")
    strategy_flags.add(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of zerodown.yaml, e.g. --set strategy.max_surge=2 "
                        "(repeatable; the value is read as YAML)")


class _Unused:
    """Stands in for the parser of a command not being run (build_parser(only=...)): its
    arguments are not needed, and building every parser costs more than `status` itself."""

    def add_argument(self, *args, **kwargs) -> None:
        pass

    def set_defaults(self, **kwargs) -> None:
        pass


GLOBAL_VALUES = ("-f", "--file", "--state-dir", "--server", "--token-file")


def command_in(argv: list[str]) -> str | None:
    """The command named on a command line (the first word that is no global option)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in GLOBAL_VALUES:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def follow_slip(argv: list[str]) -> str | None:
    """`zerodown logs -f` typed for tail's, docker's or kubectl's follow: -f is --file here
    (as in every command), so argparse said only "expected one argument", and `logs -f
    web-r2-s2` looked for a config file named web-r2-s2. The way out, when the word after
    `logs -f` is missing or no file; else None."""
    if command_in(argv) != "logs":
        return None
    rest = argv[argv.index("logs") + 1:]
    for i, word in enumerate(rest):
        if word in ("-f", "--file"):
            value = rest[i + 1] if i + 1 < len(rest) else None
            if value is None or value.startswith("-") or not os.path.exists(value):
                what = "not follow" if value is None else f"and there is no file {value}"
                return (f"zerodown logs: {word} is --file (the service's zerodown.yaml, in "
                        f"every command), {what}: to follow the logs, zerodown logs --follow")
    return None


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="machine-readable, in the shape docs/json.md describes")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, that command's in full and the others as names."""
    parser = argparse.ArgumentParser(
        prog="zerodown", description="Zero-downtime deployments of a web service.",
        epilog="Exit codes: 0 done, 1 the deployment failed or was rolled back, "
               "2 bad usage or configuration.")
    parser.add_argument("--version", action="version", version=f"zerodown {zerodown.__version__}")
    parser.add_argument("-f", "--file", default="zerodown.yaml", metavar="FILE",
                        help="the service's zerodown.yaml (default ./zerodown.yaml)")
    parser.add_argument("--state-dir", default=None, metavar="DIR",
                        help="where zerodown keeps state (default .zerodown beside the file)")
    parser.add_argument("--no-color", action="store_true",
                        help="no colour (also NO_COLOR=1; never any into a pipe or file)")
    parser.add_argument("--server", metavar="URL",
                        help="a controller's API on another machine, e.g. http://10.0.0.5:7070 "
                             "(status, deploy, pause, resume, promote, abort, rollback)")
    parser.add_argument("--token-file", metavar="FILE",
                        help="the bearer token for --server (or ZERODOWN_TOKEN)")
    # prog given: argparse would build a help formatter (and import shutil) to compute it
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(PUBLIC) + "}",
                                required=True, prog="zerodown")

    def add(name: str, func: str, help: str | None):
        if only is not None and only != name:
            sub.add_parser(name, help=help)
            return _Unused()
        p = sub.add_parser(name, help=help, description=help, epilog=epilog(name),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(p)
        p.set_defaults(func=func)
        return p

    p = add("init", "service:cmd_init", "write a starter zerodown.yaml and example releases")
    p.add_argument("--service", default="web", help="the service's name (default web)")
    p.add_argument("--port", type=arguments.count(1, 65535, "a port"), default=8080,
                   help="the port users connect to")
    p.add_argument("--force", action="store_true", help="overwrite existing files")

    p = add("validate", "service:cmd_validate", "check zerodown.yaml; every error with file:line")
    p.add_argument("--schema", action="store_true", help="print the JSON Schema instead")
    add("schema", "service:cmd_schema", "print the JSON Schema of zerodown.yaml")

    p = add("hosts", "fleet:cmd_hosts", "check every host of runtime: ssh (reachable, host "
                                         "key, state_dir writable, python3, disk free)")
    _json(p)
    p.add_argument("--forget", metavar="HOST",
                   help="a host removed from runtime.hosts that is gone for good: mark the "
                        "instances recorded there stopped, asking nothing of it (they may "
                        "still run there if it comes back)")
    p.add_argument("--take-over", action="store_true",
                   help="make this controller the one that deploys the service on every "
                        "host, in place of another (`zerodown hosts` names it); what runs "
                        "there is left as it is")

    p = add("up", "service:cmd_up", "start the proxy, the controller and the first version; "
                                    "return once it serves")
    p.add_argument("--version", type=arguments.version,
                   help="the version to start (default: the last one, or v1)")

    p = add("deploy", "deploying:cmd_deploy", "ask the controller to deploy a new version, "
                                              "showing its progress")
    p.add_argument("version", type=arguments.version,
                   help="the version label, e.g. v2 (the app sees it as {version})")
    _strategy_options(p)
    _allow_downtime(p)
    _deployment_options(p)

    p = add("plan", "inspect:cmd_plan", "print the steps a deployment would take; change nothing")
    p.add_argument("version", type=arguments.version)
    _strategy_options(p)
    _allow_downtime(p)
    _json(p)

    p = add("status", "status:cmd_status", "the service, its deployment, instances and traffic")
    p.add_argument("--watch", action="store_true", help="refresh until interrupted")
    _json(p)
    p.add_argument("--interval", type=arguments.seconds(0.05, 3600), default=WATCH_INTERVAL,
                   metavar="SECONDS",
                   help=f"with --watch: seconds between two looks (default {WATCH_INTERVAL:g})")

    for name, text in (
            ("pause", "hold the deployment after its current step"),
            ("resume", "continue a paused deployment (not an A/B test at its hold: it waits "
                       "for promote or abort)"),
            ("promote", "go past the pause the deployment holds at (an A/B test: B wins)"),
            ("abort", "take all traffic back to the stable revision")):
        p = add(name, f"deploying:cmd_{name}", text)
        p.add_argument("id", nargs="?", type=arguments.deployment_id,
                       help="deployment id (default: the active one)")
        p.add_argument("-m", "--reason", metavar="TEXT",
                   help="why (kept with who asked; `history` shows it)")
        if name == "promote":
            p.add_argument("--full", action="store_true",
                           help="skip every remaining pause and analysis")

    p = add("rollback", "deploying:cmd_rollback", "deploy the previous revision again")
    p.add_argument("--to", metavar="REVISION", help="r3, 3, or a version label like v1")
    _allow_downtime(p)
    _deployment_options(p)

    p = add("history", "inspect:cmd_history", "deployments, newest first, who asked and why; "
                                              "-v adds their events and config changes")
    p.add_argument("-v", "--verbose", action="store_true", help="each deployment's event log")
    p.add_argument("-n", "--limit", type=arguments.count(1, 1_000_000, "a number of deployments"),
                   default=50, help="at most this many (default 50)")
    _json(p)

    p = add("logs", "logs:cmd_logs", "instances' output, each line with its time; one "
                                    "instance's, or every running one's merged (or `proxy`, "
                                    "`controller`)")
    p.add_argument("instance", nargs="?",
                   help="e.g. web-r2-s2 or r2-s2 (`zerodown status` lists them); none: every "
                        "running instance, each line prefixed with its name")
    p.add_argument("--instance", dest="instance_option", metavar="ID",
                   help="the same as naming the instance")
    p.add_argument("--host", metavar="NAME",
                   help="runtime ssh: only the instances on this host (each line is prefixed "
                        "with its host and instance; hosts are read over SSH at once)")
    p.add_argument("--all", action="store_true",
                   help="every instance's log, stopped ones' too, merged in time order")
    p.add_argument("--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=arguments.count(0, 10_000_000, "a number of lines"),
                   default=None, help="only the last N lines")
    p.add_argument("--since", metavar="WHEN",
                   help="only lines written since then: 10m, 30s, 2h ago, or 17:05, "
                        "2026-12-03T17:05:00")

    p = add("exec", "one_off:cmd_exec", "run a one-off command where the app runs (a "
                                        "migration, a console): in the stable version's "
                                        "folder, with its instances' environment")
    p.add_argument("--all", action="store_true",
                   help="runtime ssh: on every host at once (default: on one, the first of "
                        "runtime.hosts that answers)")
    p.add_argument("--host", metavar="NAME", help="runtime ssh: on this host of runtime.hosts")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="runtime ssh: give it this stdin (a console: with a terminal here, a "
                        "pseudo-terminal there, as ssh -t); one host only")
    p.add_argument("--version", type=arguments.version, metavar="V",
                   help="in version V's release instead of the stable revision's (on a "
                        "fleet it must be uploaded to the hosts: deployed once)")
    p.add_argument("--timeout", type=arguments.duration(0.1, 30 * 86400),
                   default=EXEC_TIMEOUT, metavar="DURATION",
                   help=f"stop it (its process group: SIGTERM, then SIGKILL) after this long: "
                        f"90, 30s, 10m, 2h (default {EXEC_TIMEOUT / 3600:g}h)")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="argv, run without a shell (write sh -c '...' for one)")

    add("down", "service:cmd_down", "stop the controller, the instances and the proxy")

    p = add("controller", "daemon:cmd_controller",
            "start the controller daemon (if not running) and say where it listens")
    p.add_argument("--foreground", action="store_true",
                   help="run it in this process until SIGTERM (for systemd)")
    p.add_argument("--stop", action="store_true", help="stop it (deployments resume at its "
                                                       "next start)")
    p.add_argument("--api-listen", metavar="HOST:PORT",
                   help="serve the API and dashboard on TCP too (overrides controller.listen)")

    p = add("token", "daemon:cmd_token", "bearer tokens for the API on TCP")
    p.add_argument("action", choices=("create", "list", "revoke"))
    p.add_argument("name", nargs="?", help="the token's name (who it is recorded as)")

    p = add("completion", "completion:cmd_completion",
            "print a shell completion script (bash, zsh or fish)")
    p.add_argument("shell", choices=("bash", "zsh", "fish"))

    # Listed so `zerodown --help` says what they are; cli.py hands them their arguments
    # before this parser runs (each has a parser of its own: `zerodown proxy --help`).
    for name, text in PASS_THROUGH_HELP.items():
        if only is None:
            sub.add_parser(name, help=text, add_help=False)
    return parser


def resolve(func: str):
    """"status:cmd_status" → (the function, whether it is a client of the controller)."""
    import importlib
    module_name, _, name = func.partition(":")
    module = f"zerodown.commands.{module_name}"
    return getattr(importlib.import_module(module), name), module in CLIENT_MODULES
