"""The command line refuses bad arguments where it reads them: exit 2 and one message
naming the argument, never a traceback, a hang, or a value carried into a deployment."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from zerodown import __version__
from zerodown.cli import main
from zerodown.commands import build_parser
from zerodown.errors import UsageError
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.config import load_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "zerodown.yaml"


def run(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own usage errors and --version
        code = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out + out.err


@pytest.mark.parametrize("argv, message", [
    (("pause", "99999999999999999999"), "argument id: must be a deployment id: an integer "
                                        "from 1 to 9223372036854775807"),
    (("abort", "-3"), "argument id: must be a deployment id"),
    (("deploy", ""), "argument version: a version label must be"),
    (("deploy", "  "), "argument version: a version label must be"),
    (("plan", "v2\n"), "argument version: a version label must be"),
    (("up", "--version", "../../etc"), "argument --version: a version label must be"),
    (("history", "-n", "0"), "argument -n/--limit: must be a number of deployments"),
    (("logs", "proxy", "-n", "1e9"), "argument -n/--lines: must be a number of lines"),
    (("status", "--interval", "inf"), "argument --interval: must be a number of seconds"),
    (("init", "--port", "0"), "argument --port: must be a port"),
])
def test_bad_arguments_are_usage_errors(capsys, argv, message):
    code, out = run(capsys, "-f", str(EXAMPLE), *argv)
    assert code == 2 and message in out, out


def test_a_file_without_end_is_refused_at_once(capsys):
    started = time.monotonic()
    code, out = run(capsys, "-f", "/dev/urandom", "validate")
    assert code == 2 and "/dev/urandom:1: is larger than 64 KiB" in out
    assert time.monotonic() - started < 10  # a hang, not a slow machine


def test_set_names_the_keys_a_deployment_cannot_change(capsys):
    code, out = run(capsys, "-f", str(EXAMPLE), "plan", "v2", "--set", "listen=127.0.0.1:9")
    assert code == 2 and out.startswith("--set: listen: cannot change per deployment")


def test_version_and_demo_help_do_not_run_anything(capsys):
    assert run(capsys, "--version") == (0, f"zerodown {__version__}\n")
    started = time.monotonic()
    code, out = run(capsys, "demo", "--help")
    assert code == 0 and out.startswith("usage: zerodown demo") and time.monotonic() - started < 10
    assert "seed" not in out  # the project's brief, which a user never saw, named the costs


def test_demo_fleet_not_as_root_says_what_it_needs_and_that_the_plain_demo_needs_none(
        capsys, monkeypatch):
    import os
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    started = time.monotonic()
    code, out = run(capsys, "demo", "--fleet")
    assert code == 1 and time.monotonic() - started < 10, out
    assert "needs root" in out and "run it as root (sudo bash scripts/demo.sh --fleet)" in out
    assert "The plain `zerodown demo` needs none of this." in out
    assert run(capsys, "demo", "--fleet", "x")[0] == 2   # a typo starts nothing either


def test_a_demo_that_cannot_go_on_says_why_as_a_command_does(capsys, monkeypatch):
    """`demo` is passed through, outside the CLI's mapping of errors: a ZerodownError out
    of it (a proxy that cannot start, a fleet that cannot be built) was a traceback."""
    from zerodown import demo
    from zerodown.errors import RouterError

    def cannot(folder):
        raise RouterError("the proxy did not start: port 8080 is taken")
    monkeypatch.setattr(demo, "run", cannot)
    assert run(capsys, "demo") == (
        1, "zerodown demo: error: the proxy did not start: port 8080 is taken\n")


def test_f_means_file_in_every_command_and_logs_follows_with_follow_only():
    parser = build_parser()
    for argv in (["logs", "proxy", "-f", "x.yaml"], ["status", "-f", "x.yaml"]):
        assert parser.parse_args(argv).file == "x.yaml"
    args = parser.parse_args(["logs", "proxy", "--follow"])
    assert args.follow and args.file == "zerodown.yaml"


def test_the_engine_refuses_a_blank_version_too(tmp_path):
    cfg = load_config(str(EXAMPLE))
    engine = Engine(Store(str(tmp_path / "zd.db")), FakeRuntime(), FakeRouter(), FakeClock(), cfg)
    for label in ("", " ", "v2 ", "a/b", "x" * 129):
        with pytest.raises(UsageError, match="a version label must be"):
            engine.deploy(label)
    assert engine.store.deployments("shop") == []


def test_an_accel_build_that_cannot_make_its_folder_says_so_at_once(capsys, monkeypatch,
                                                                   tmp_path):
    """`accel` is passed through outside the CLI's parser; its errors are mapped as every
    command's are: a build folder it could not make was an OSError's traceback, and only
    after the 20 s compile."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("ZERODOWN_ACCEL_DIR", str(tmp_path / "a-file" / "builds"))
    started = time.monotonic()
    code, out = run(capsys, "accel", "build")
    assert time.monotonic() - started < 10  # before the compile
    assert code == 2 and out.startswith(
        f"zerodown accel: error: cannot make the build folder {tmp_path}/a-file/builds "
        "(Not a directory): set ZERODOWN_ACCEL_DIR to a folder"), out
