"""zerodown.yaml under hostile input: every outcome is a config or a located ConfigError.

The cases of issue 11 one by one, then a seeded, bounded fuzz over mutations of
examples/zerodown.yaml: each mutation must load as a config zerodown can act on
(its command renders, its plan is made) or fail with a ConfigError naming
file:line — never another exception, never a hang, never an error that echoes
megabytes.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from pathlib import Path

import pytest

from zerodown.config import ServiceConfig, apply_overrides, load_config
from zerodown.errors import ConfigError
from zerodown.plan import PlanError, ServiceState, Target
from zerodown.strategies import plan_for
from zerodown.yaml_input import MAX_BYTES

EXAMPLE = Path(__file__).parents[2] / "examples" / "zerodown.yaml"
SEED = int(os.environ.get("ZERODOWN_FUZZ_SEED", "1103"))
CASES = int(os.environ.get("ZERODOWN_FUZZ_CASES", "250"))
# Seconds for one file (most take ~5 ms): CPU time, which a busy machine does not stretch,
# and wall time, bounding what waits without computing, more loosely.
ONE_CASE_CPU, ONE_CASE_WALL = 2.0, 10.0
# Characters of one error message: at most 20 problems are listed, an unknown key's names the
# allowed keys (a list that grows with the schema), so this bounds megabytes, not the wording.
MESSAGE_LIMIT = 10_000
LOCATED = re.compile(r"^[^\n:]+:\d+: ")


def load_bytes(tmp_path: Path, data: bytes, name: str = "zerodown.yaml") -> ServiceConfig:
    path = tmp_path / name
    path.write_bytes(data)
    return load_config(str(path))


def refused(tmp_path: Path, data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    with bounded():
        with pytest.raises(ConfigError) as e:
            load_bytes(tmp_path, raw)
    assert_located(e.value)
    return str(e.value)


@contextlib.contextmanager
def bounded(what: object = ""):
    cpu, wall = time.process_time(), time.monotonic()
    yield
    assert time.process_time() - cpu < ONE_CASE_CPU, f"too long: {what}"
    assert time.monotonic() - wall < ONE_CASE_WALL, f"too long: {what}"


def assert_located(error: ConfigError) -> None:
    """Each problem (one, or each of a list) starts with file:line, within a bound."""
    assert len(str(error)) < MESSAGE_LIMIT, str(error)[:300]
    for one in getattr(error, "errors", None) or [error]:
        assert LOCATED.match(str(one)), str(one)


BASE = EXAMPLE.read_text()


def with_line(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


@pytest.mark.parametrize("text, expected", [
    # input bounds
    (BASE + "x: " + "y" * MAX_BYTES, r"^\S+:1: is larger than 64 KiB"),
    ("\n".join(f"k{i}: {i}" for i in range(100_000)), r"larger than 64 KiB"),
    ("a: &a [*a]\n", r":1: not valid YAML: alias \*a refers to a value that contains it"),
    ("a: " + "[" * 5000 + "]" * 5000, r":1: not valid YAML: nested more than 32 levels"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
        for i in range(9)), r"not valid YAML: holds more than 20000 values once its aliases"),
    ("a: " + "1" * 5000, r":1: not valid YAML: .*digits"),
    # wrong acceptances
    (BASE + "instances: 3\n", r":\d+: not valid YAML: key 'instances' is written twice \(first at "
                              r"line 12\)"),
    (with_line("drain_timeout: 30s", "drain_timeout: .inf"), r"drain_timeout: must be a duration"),
    (with_line("drain_timeout: 30s", "drain_timeout: 99999h"), r"drain_timeout: must be at most 1d"),
    (with_line("interval: 1s", "interval: 0"), r"health.interval: must be at least 10ms"),
    (with_line("kind: embedded ", "kind: embedded\n  token: x "), r"router.token: unknown option"),
    (with_line("kind: local ", "kind: local\n  hosts: [a] "), r"runtime.hosts: unknown option"),
    (with_line("kind: local ", "kind: ssh "), r"runtime.hosts: runtime kind ssh needs hosts"),
    (with_line("kind: local ", "kind: docker "), r"runtime.kind: must be one of local, ssh, got "
                                                   r"\"docker\" \(not available yet\)"),
    (with_line("kind: local ", "kind: ssh\n  hosts: [a, b]\n  instances_per_host: 3 "),
     r"runtime.instances_per_host: 3 per host × 2 hosts = 6 instances, but instances is"),
    (with_line("127.0.0.1:8080", "127.0.0.1:0"), r"listen: must be host:port"),
    (with_line("path: /healthz", 'path: "/health z"'), r"health.path: must be a path"),
    (with_line("path: /healthz", 'path: "/healthz\\r\\nX: 1"'), r"health.path: must be a path"),
    (with_line('APP_DRAIN_TIMEOUT: "25"', 'APP_DRAIN_TIMEOUT: "2\\0"'), r"NUL character"),
    (with_line("--version", "--version={version:>999999999}"), r"unknown placeholder"),
    (with_line("service: shop", "service: \"shop\\n\""), r"service: must be a name"),
])
def test_hostile_input_is_refused_with_its_line(tmp_path, text, expected):
    message = refused(tmp_path, text)
    assert re.search(expected, message), message


def test_bytes_that_are_not_utf8_or_not_yaml_characters(tmp_path):
    assert re.match(r"^\S+:2: is not UTF-8 text \(byte 0xff",
                    refused(tmp_path, b"service: shop\nlisten: \xff\xfe\n"))
    assert re.match(r"^\S+:3: not valid YAML: character '\\x00' is not allowed",
                    refused(tmp_path, b"a: 1\nb: 2\nc: \x00\n"))


def test_a_huge_value_is_quoted_cut_short(tmp_path):
    message = refused(tmp_path, with_line("service: shop", "service: " + "s" * 60_000))
    assert "… (60002 characters)" in message and len(message) < 400


def test_an_endless_file_is_read_no_further_than_the_bound(tmp_path):
    with bounded("/dev/zero"), pytest.raises(ConfigError, match="larger than 64 KiB"):
        load_config("/dev/zero")


def test_many_problems_are_listed_within_a_bound(tmp_path):
    message = refused(tmp_path, BASE + "".join(f"unknown_{i}: 1\n" for i in range(3000)))
    assert "3000 problems" in message and "... and 2980 more" in message
    assert len(message) < MESSAGE_LIMIT


@pytest.mark.parametrize("setting, expected", [
    ("listen=127.0.0.1:9", "listen: cannot change per deployment"),
    ("router.kind=nginx", "router.kind: cannot change per deployment"),
    ("service=other", "service: cannot change per deployment"),
    ("instances=&a [*a]", "alias \\*a refers to a value that contains it"),
])
def test_set_refuses_what_one_deployment_cannot_change(setting, expected):
    cfg = load_config(str(EXAMPLE))
    with pytest.raises(ConfigError, match=expected) as e:
        apply_overrides(cfg, [setting])
    assert str(e.value).startswith("--set: ") and "--set:1" not in str(e.value)


# --- the fuzz ------------------------------------------------------------------------

ODD_VALUES = (
    "", "~", "0", "-1", "1e400", ".inf", "-.inf", ".nan", "99999999999999999999", "0x10",
    "[]", "{}", "[[[[[[]]]]]]", "*nope", "&x [*x]", "!!binary aGk=", "!!python/object:os.system",
    "'\\x00'", '"\\0"', '"a\\r\\nb"', '"/a b"', "yes", "2026-12-03", "9999999h", "1m30s", "500ms",
    "100%", "101%", "25%", '"{port:>999999999}"', '"{nope}"', '"{{"', "'x' * 3", "- a",
    "? [a, b]", "|\n  block", ">\n  folded", '"' + "z" * 5000 + '"', "1.5", "true", "null",
    "\t1", "@", "`", "%TAG", "&a 1", "<<: {}",
)


def mutate(rng: random.Random, text: str) -> bytes:
    lines = text.splitlines()
    op = rng.randrange(10)
    i = rng.randrange(len(lines))
    if op == 0:  # a value replaced
        head = lines[i].split(":", 1)[0]
        lines[i] = f"{head}: {rng.choice(ODD_VALUES)}"
    elif op == 1:
        del lines[i]
    elif op == 2:
        lines.insert(i, lines[rng.randrange(len(lines))])  # a line twice: duplicate keys
    elif op == 3:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 4:  # indentation broken
        lines[i] = " " * rng.choice((1, 2, 3, 8)) + lines[i].lstrip()
    elif op == 5:  # random bytes, perhaps not UTF-8
        raw = text.encode()
        at = rng.randrange(len(raw))
        return raw[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + raw[at:]
    elif op == 6:
        return text.encode()[:rng.randrange(len(text))]
    elif op == 7:  # deep or wide structures
        depth = rng.choice((10, 40, 3000))
        lines[i] = f"{lines[i].split(':', 1)[0]}: " + "[" * depth + "]" * depth
    elif op == 8:  # a key somewhere it does not belong
        lines.insert(i, lines[i][:len(lines[i]) - len(lines[i].lstrip())] + "surprise: 1")
    else:  # two mutations
        return mutate(rng, mutate(rng, text).decode("utf-8", "replace"))
    return ("\n".join(lines) + "\n").encode()


def act_on(cfg: ServiceConfig) -> None:
    """What zerodown does with a valid config must not raise anything but a PlanError."""
    app = cfg.app.render(version="v2", port=41000, slot=0, instance="shop-r2-s0")
    assert all("\0" not in a for a in (*app.command, *(app.env.values()), app.cwd or ""))
    assert cfg.health.tcp or re.fullmatch(r"/[!-~]*", cfg.health.path)
    assert 0 < cfg.health.interval <= 3600 and cfg.drain_timeout <= 86400
    if cfg.instances <= 200:
        try:
            plan_for(cfg.strategy, ServiceState(cfg.service, 1, ()), Target(2, cfg.instances))
        except PlanError:
            pass


def test_fuzzed_configurations_load_or_fail_with_file_and_line(tmp_path):
    rng = random.Random(SEED)
    outcomes = {"valid": 0, "refused": 0}
    for n in range(CASES):
        data = mutate(rng, BASE)
        cpu, wall = time.process_time(), time.monotonic()
        try:
            cfg = load_bytes(tmp_path, data)
        except ConfigError as e:
            try:
                assert_located(e)
            except AssertionError as why:
                raise AssertionError(f"case {n} (seed {SEED}): {why}\n{data[:500]!r}") from None
            outcomes["refused"] += 1
        except Exception as e:  # noqa: BLE001 — the point: nothing else may escape
            raise AssertionError(f"case {n} (seed {SEED}): {type(e).__name__}: {e}\n"
                                 f"{data[:500]!r}") from e
        else:
            act_on(cfg)
            outcomes["valid"] += 1
        assert time.process_time() - cpu < ONE_CASE_CPU, (n, data[:300])
        assert time.monotonic() - wall < ONE_CASE_WALL, (n, data[:300])
    print(f"config fuzz (seed {SEED}, {CASES} mutations): {outcomes}")
    assert outcomes["valid"] and outcomes["refused"]  # the mutations reach both sides
