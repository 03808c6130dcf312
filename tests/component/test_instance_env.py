"""What an instance's environment holds (app.env, env_file, secrets, a minimal base and
nothing of the caller's), what `plan` refuses before anything starts, and that a secret's
value reaches the instance but no file of zerodown's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.cli import Service
from zerodown.runtimes.release import BASE_PASSED, BASE_PATH

SECRET = "s3cr3t-value-7d1f0c"


@pytest.fixture
def releases(tmp_path):
    s = Service(tmp_path)
    for version in ("v1", "v2"):
        folder = tmp_path / "releases" / version
        folder.mkdir(parents=True)
        (folder / ".env").write_text(f"# {version}'s own settings\nexport FROM_FILE='{version}'\n"
                                     f"APP_DRAIN_TIMEOUT=4\n\nOVERRIDDEN=file\n")
    (tmp_path / "tls.key").write_text("key-from-file\n")
    text = s.file.read_text().replace(
        '  env: {APP_DRAIN_TIMEOUT: "5"}\n',
        '  cwd: releases/{version}\n'
        '  env_file: releases/{version}/.env\n'
        '  env: {OVERRIDDEN: "yaml", APP_VERSION: "{version}"}\n'
        '  secrets: [DB_PASSWORD, {name: API_KEY, env: ZD_TEST_API_KEY}, '
        '{name: TLS_KEY, file: tls.key}]\n')
    assert "secrets:" in text
    s.file.write_text(text)
    s.env = {**s.env, "DB_PASSWORD": SECRET, "ZD_TEST_API_KEY": "api-1", "LEAK_ME": "1",
             "PATH": str(Path(sys.executable).parent) + ":" + s.env.get("PATH", "")}
    yield s
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if item)


def test_plan_refuses_a_missing_release_folder_and_a_missing_secret_changing_nothing(releases):
    s = releases
    err = s.run("plan", "v9", code=2).stderr
    assert "app.cwd: version v9: release folder" in err and "releases/v9 does not exist" in err
    assert "app.env_file: version v9" in err  # both problems in one go
    s.env = {k: v for k, v in s.env.items() if k != "DB_PASSWORD"}
    err = s.run("plan", "v2", code=2).stderr
    assert "app.secrets[0]: secret DB_PASSWORD: $DB_PASSWORD is not set" in err
    assert not s.state_dir.exists(), "plan changed something"
    assert SECRET not in err


def test_an_instance_gets_exactly_the_declared_environment_and_no_file_holds_a_secret(releases):
    s = releases
    s.run("up", "--version", "v1")
    (instance,) = [i for i in s.status()["instances"]][:1]
    env = environ(instance["pid"])
    assert env["DB_PASSWORD"] == SECRET and env["API_KEY"] == "api-1"
    assert env["TLS_KEY"] == "key-from-file"  # one trailing newline dropped
    assert env["FROM_FILE"] == "v1" and env["OVERRIDDEN"] == "yaml" and env["APP_VERSION"] == "v1"
    assert env["PATH"] == BASE_PATH
    declared = {"DB_PASSWORD", "API_KEY", "TLS_KEY", "FROM_FILE", "OVERRIDDEN", "APP_VERSION",
                "APP_DRAIN_TIMEOUT", "PATH", "ZERODOWN_INSTANCE", "ZERODOWN_STATE_DIR"}
    assert set(env) - declared <= set(BASE_PASSED), set(env) - declared
    assert "LEAK_ME" not in env and "PYTHONPATH" not in env
    s.run("deploy", "v2")
    s.run("history", "-v")
    for path in s.root.rglob("*"):
        if path.is_file() and ".zerodown" in path.parts:
            assert SECRET.encode() not in path.read_bytes(), f"the secret is in {path}"
    assert (s.state_dir / "zerodown.db").exists()
    status = json.dumps(s.status())
    assert SECRET not in status


def test_a_controller_started_without_the_secret_refuses_the_deploy_naming_it(releases):
    s = releases
    s.run("up", "--version", "v1")
    s.run("controller", "--stop")
    s.env = {k: v for k, v in s.env.items() if k != "DB_PASSWORD"}
    err = s.run("deploy", "v2", code=2).stderr  # the next command starts it without
    assert "secret DB_PASSWORD: $DB_PASSWORD is not set in the controller's environment" in err
    history = s.run("history").stdout.splitlines()
    rows = [line for line in history[1:] if line[:1].isdigit()]  # a proof line may follow each
    assert len(rows) == 1, history  # up's deployment alone: no revision taken
