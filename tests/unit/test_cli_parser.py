"""The command line's parser: what it accepts matches the config, and it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zerodown import example
from zerodown.commands import STRATEGY_KINDS
from zerodown.strategies.options import STRATEGIES

HEAVY = ("yaml", "sqlite3", "asyncio", "zerodown.engine", "zerodown.strategies",
         "zerodown.controller", "zerodown.config")


def test_strategy_kinds_are_the_configs():
    assert STRATEGY_KINDS == tuple(STRATEGIES)


def test_status_imports_nothing_heavy():
    """`zerodown status` parses its command and asks the controller: no yaml, sqlite,
    asyncio or planner is imported on the way (each costs tens of milliseconds)."""
    code = ("import sys\nfrom zerodown.commands import build_parser, resolve\n"
            "args = build_parser().parse_args(['status', '--json'])\nresolve(args.func)\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# What `zerodown deploy`'s client path (its config checked, the controller asked, the
# deployment followed) needs none of: the controller's (engine, store, runtimes, load
# balancers, asyncio), the planners (the controller plans), and what only other configs
# need (ssl: certificates; re2: regex rules; the other routers' and runtimes' checks: the
# example's are embedded and local). Each cost the command's start-up.
DEPLOY_CLIENT_NEVER = ("sqlite3", "asyncio", "zerodown.engine", "zerodown.controller",
                       "zerodown.routers.embedded", "zerodown.plan",
                       "zerodown.strategies.planning", "zerodown.runtimes.local",
                       "zerodown.routers.haproxy_render", "zerodown.routers.nginx_render",
                       "zerodown.runtimes.ssh_options", "http.client", "email", "ssl", "re2")


def test_deploy_checks_its_config_without_the_engine(tmp_path):
    """`zerodown deploy` checks zerodown.yaml before asking the controller, with the
    config's modules only, and its client path (the controller's socket, the follower)
    imports none of DEPLOY_CLIENT_NEVER: importing them cost every deploy ~0.1 s of
    start-up (benchmarks/README.md, session 18)."""
    file = tmp_path / "zerodown.yaml"
    file.write_text(example.config_text("shop", "127.0.0.1:8080", instances=2))
    code = ("import sys\nfrom zerodown.commands import build_parser, resolve\n"
            f"args = build_parser().parse_args(['-f', {str(file)!r}, 'deploy', 'v2', "
            "'--set', 'strategy.max_surge=2'])\nresolve(args.func)\n"
            "from zerodown.commands.connect import check_config\ncheck_config(args)\n"
            "import zerodown.daemon.process, zerodown.commands.follow\n"
            f"print([m for m in {DEPLOY_CLIENT_NEVER!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_command_line_imports_only_itself():
    """`import zerodown.cli` (the console script's first step) loads the errors and
    nothing else of zerodown: the commands' parser, the config and the client come in
    only as the command line asks for them."""
    code = ("import sys\nimport zerodown.cli\n"
            "print(sorted(m for m in sys.modules if m.startswith('zerodown')), "
            f"[m for m in {HEAVY + DEPLOY_CLIENT_NEVER!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['zerodown', 'zerodown.cli', 'zerodown.errors'] []", out.stdout


@pytest.mark.parametrize("own", [True, False])
def test_a_command_of_the_process_freezes_its_objects_before_the_exit(tmp_path, own):
    """The command line of the process (no argv given): the collector's pass over every
    object at the interpreter's exit is skipped (gc.freeze, ~30-80 ms of each command).
    Called with argv (tests, another program) nothing is frozen: the caller goes on."""
    file = tmp_path / "zerodown.yaml"
    file.write_text(example.config_text("shop", "127.0.0.1:8080", instances=2))
    argv = ["-f", str(file), "validate"]
    call = f"sys.argv = ['zerodown', *{argv!r}]; code = main()" if own else \
        f"code = main({argv!r})"
    code = ("import gc, sys\nfrom zerodown.cli import main\n" + call +
            "\nprint(code, gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["0", str(own)], out.stdout
