"""`zerodown exec`'s pure parts: the app filled without an instance's placeholders, the
command words, the hosts chosen, the host-prefixed lines, how an outcome is told, and
--timeout's parsing."""

from __future__ import annotations

import argparse
import threading
import time

import pytest

from zerodown.commands import arguments, build_parser
from zerodown.config import AppConfig
from zerodown.errors import RuntimeFailure, UsageError
from zerodown.hosts.one_off import MARK, Trailer, exit_status, outcome_text
from zerodown.runtimes.one_off import Prefixed, chosen_hosts, command_words, fields, fill, \
    first_answering

APP = AppConfig(command=("./app", "--port", "{port}"), cwd="web",
                env={"GREETING": "hi {version} on {host}", "PORT": "{port}",
                     "NAME": "{instance}", "PLAIN": "x"},
                env_file="releases/{version}/.env", release="releases/{version}")


def test_fill_keeps_version_and_host_and_leaves_out_what_only_an_instance_has():
    app, dropped = fill(APP, "v3", "10.0.0.11")
    assert dropped == ("NAME", "PORT")
    assert app.env == {"GREETING": "hi v3 on 10.0.0.11", "PLAIN": "x"}
    assert (app.release, app.env_file, app.cwd) == ("releases/v3", "releases/v3/.env", "web")


@pytest.mark.parametrize("key, value", [("cwd", "slot-{slot}"), ("env_file", "{instance}.env"),
                                        ("release", "r/{port}")])
def test_a_folder_or_file_only_an_instance_can_name_is_refused_naming_the_key(key, value):
    with pytest.raises(UsageError, match=rf"app\.{key} .* uses \{{"):
        fill(AppConfig(command=("x",), **{key: value}), "v1", "h")


@pytest.mark.parametrize("text, found", [("{port}", {"port"}), ("a{{b}}c", set()),
                                         ("{version}-{slot}", {"version", "slot"}),
                                         (None, set())])
def test_fields(text, found):
    assert fields(text) == found


def test_command_words():
    assert command_words(["--", "ls", "--", "-l"]) == ["ls", "--", "-l"]
    assert command_words(["ls"]) == ["ls"]
    for empty in ([], ["--"]):
        with pytest.raises(UsageError, match="needs a command"):
            command_words(empty)


def test_chosen_hosts():
    names = ["app1", "app2", "app3"]
    assert chosen_hosts(names, False, None) is None  # the first that answers, found later
    assert chosen_hosts(names, True, None) == names
    assert chosen_hosts(names, False, "app2") == ["app2"]
    with pytest.raises(UsageError, match=r"'app9' is not one of runtime.hosts \(app1, app2, app3\)"):
        chosen_hosts(names, False, "app9")
    with pytest.raises(UsageError, match="--all and --host"):
        chosen_hosts(names, True, "app2")


@pytest.mark.parametrize("said, found", [
    ({}, None),
    ({"a": True}, "a"),
    ({"b": True}, None),                        # a, listed first, may still answer
    ({"a": False, "b": True}, "b"),
    ({"a": False, "c": True}, None),
    ({"a": False, "b": False, "c": True}, "c"),
    ({"a": False, "b": False, "c": False}, None),
])
def test_first_answering_takes_runtime_hosts_order(said, found):
    assert first_answering(["a", "b", "c"], said) == found


class Asked:
    """A runtime whose hosts answer after their delay (None: never, as one cut off)."""

    def __init__(self, delays: dict[str, float | None]):
        self.names, self.delays, self.gone = list(delays), delays, threading.Event()

    def answers(self, name: str) -> bool:
        delay = self.delays[name]
        self.gone.wait(60 if delay is None else delay)
        return delay is not None


def test_the_default_host_is_asked_at_once_with_the_others_a_silent_first_costs_nothing():
    from zerodown.commands.one_off import _first_answering
    runtime = Asked({"a": None, "b": 0.8, "c": 0.01})
    started = time.monotonic()
    try:
        assert _first_answering(runtime) == "c", "a, b: still asked once the grace passed"
        assert time.monotonic() - started < 0.75
        runtime.delays = {"a": 0.25, "b": 0.2, "c": 0.2}
        assert _first_answering(runtime) == "a", "listed first, answering nearly as soon"
    finally:
        runtime.gone.set()


def test_a_host_listed_before_answering_a_little_over_twice_as_late_is_still_taken():
    """The test fleet under load: zdf1 cut off, zdf3 answered in 0.07 s and zdf2, listed
    before it, in 0.15 s; "as long again" alone took zdf3 (test_fleet_exec.py failed)."""
    from zerodown.commands.one_off import LISTED_FIRST_GRACE, _first_answering
    runtime = Asked({"a": None, "b": 0.15, "c": 0.07})
    started = time.monotonic()
    try:
        assert _first_answering(runtime) == "b"
        assert time.monotonic() - started < LISTED_FIRST_GRACE + 0.5
    finally:
        runtime.gone.set()


class Checked:
    """A runtime whose checks answer at once: True, False, or raise (a bound of the check's
    own passed, its connections' loop gone)."""

    def __init__(self, said: dict[str, bool | Exception]):
        self.names, self.said = list(said), said

    def answers(self, name: str) -> bool:
        if isinstance(self.said[name], Exception):
            raise self.said[name]
        return self.said[name]


@pytest.mark.parametrize("said, found", [
    ({"a": TimeoutError(), "b": True}, "b"),
    ({"a": TimeoutError(), "b": False}, None),   # no host answers: said so, not a hang
    ({"a": RuntimeError("loop closed"), "b": TimeoutError()}, None),
])
def test_a_check_that_raises_is_a_host_that_did_not_answer(said, found):
    from zerodown.commands.one_off import _first_answering
    outcome: list = []

    def first() -> None:
        try:
            outcome.append(_first_answering(Checked(said)))
        except RuntimeFailure as e:
            outcome.append(e)
    asking = threading.Thread(target=first, daemon=True)
    asking.start()
    asking.join(10)
    assert outcome, "still waiting for the answer of a check that raised"
    if found is not None:
        assert outcome == [found]
    else:
        assert isinstance(outcome[0], RuntimeFailure)
        assert "no host of runtime.hosts answers (a, b)" in str(outcome[0])


def test_interactive_is_one_host_named_or_the_first_that_answers_never_all():
    names = ["app1", "app2"]
    assert chosen_hosts(names, False, "app2", interactive=True) == ["app2"]
    assert chosen_hosts(names, False, None, interactive=True) is None
    with pytest.raises(UsageError, match="-i and --all: -i gives one command this stdin"):
        chosen_hosts(names, True, None, interactive=True)


def test_interactive_is_parsed_short_and_long():
    parse = build_parser("exec").parse_args
    assert parse(["exec", "-i", "--host", "app1", "--", "irb"]).interactive
    assert parse(["exec", "--interactive", "--", "irb", "-i"]).argv == ["--", "irb", "-i"]
    assert not parse(["exec", "--", "irb"]).interactive


def _trailed(chunks: list[bytes]) -> tuple[list[bytes], bytes | None]:
    shown: list[bytes] = []
    trailer = Trailer(shown.append)
    for chunk in chunks:
        trailer.feed(chunk)
    return shown, trailer.end()


@pytest.mark.parametrize("chunks, shown, outcome", [
    ([b"hi\r\n", MARK + b'{"code": 0}\r\n'], [b"hi\r\n"], b'{"code": 0}\r\n'),
    # MARK split between reads: its first part held, never shown
    ([b"out" + MARK[:3], MARK[3:] + b'{"code"', b': 3}'], [b"out"], b'{"code": 3}'),
    # an escape sequence that is not MARK: held only until the next data shows it is not
    ([b"red \x1b", b"[31mx"], [b"red ", b"\x1b[31mx"], None),
    ([b"\x1b]0;title\x07"], [b"\x1b]0;title\x07"], None),
    ([b"end \x1b]zero"], [b"end ", b"\x1b]zero"], None),  # the stream's end: handed on
    ([], [], None),
])
def test_a_terminals_outcome_is_taken_from_the_end_of_its_stream(chunks, shown, outcome):
    assert _trailed(chunks) == (shown, outcome)


def test_prefixed_lines_come_whole_and_a_last_unended_one_is_ended():
    p = Prefixed("app1", 6)
    assert p.lines(b"one\ntw") == b"app1   | one\n"
    assert p.lines(b"o\n") == b"app1   | two\n"
    assert p.lines(b"three") == b""
    assert p.rest() == b"app1   | three\n" and p.rest() == b""


@pytest.mark.parametrize("outcome, text", [
    ({"code": 0, "seconds": 1.0}, None),
    ({"code": 3, "seconds": 0.5}, "bin/migrate exited 3 after 0.5s"),
    ({"signal": 9, "seconds": 2.0}, "bin/migrate was killed by SIGKILL after 2s"),
    ({"timeout": 10.0, "seconds": 12.0}, "bin/migrate did not end within --timeout 10s"),
    ({"hangup": True, "seconds": 1.0}, "bin/migrate was stopped: the caller went away"),
    ({"error": "release v9 is not on this host", "seconds": 0.0},
     "release v9 is not on this host"),
])
def test_outcome_text(outcome, text):
    said = outcome_text(outcome, "bin/migrate")
    assert said == text if text is None else said.startswith(text)


@pytest.mark.parametrize("outcome, status", [
    ({"code": 0, "seconds": 1.0}, 0),
    ({"code": 3, "seconds": 0.5}, 3),      # the command's own: a script tells 1 from 2
    ({"signal": 9, "seconds": 2.0}, 137),  # as a shell says it: 128 + the signal
    ({"timeout": 10.0, "seconds": 12.0}, 124),  # as timeout(1)
    ({"hangup": True, "seconds": 1.0}, 129),
    ({"error": "release v9 is not on this host", "seconds": 0.0}, 255),  # not run, as ssh
    ({"error": "did not answer: whether the command ran or ended is unknown"}, 255),
])
def test_exec_exits_with_the_commands_own_status(outcome, status):
    assert exit_status(outcome) == status


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("10m", 600.0), ("1h30m", 5400.0),
                                           ("0.5", 0.5)])
def test_timeout_takes_seconds_or_durations(text, seconds):
    assert arguments.duration(0.1, 86400)(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0", "-1", "nan", "2d"])
def test_a_bad_timeout_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        arguments.duration(0.1, 86400)(text)


def test_the_command_after_dashes_is_taken_whole():
    args = build_parser("exec").parse_args(["exec", "--all", "--", "python3", "-c", "x", "--all"])
    assert args.all and command_words(args.argv) == ["python3", "-c", "x", "--all"]
    assert args.timeout == 3600.0
