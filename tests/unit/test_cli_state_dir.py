"""A state directory zerodown cannot write is named as the state directory, with what to do
and exit 2: `zerodown up --state-dir` on a read-only mount said only `Read-only file system:
PATH` and exit 1, the code of a failed deployment (none had started)."""

from __future__ import annotations

import pytest

from zerodown import cli
from zerodown.config import starter_yaml


@pytest.fixture
def blocked(tmp_path):
    """A state directory below a plain file: mkdir fails (ENOTDIR) for root too."""
    (tmp_path / "zerodown.yaml").write_text(starter_yaml())
    (tmp_path / "afile").write_text("")
    return tmp_path, tmp_path / "afile" / "state"


@pytest.mark.parametrize("command", [["down"], ["token", "create", "ci"], ["deploy", "v2"]])
def test_an_unwritable_state_dir_is_named_with_the_way_out(blocked, command, capsys):
    folder, state = blocked
    code = cli.main(["-f", str(folder / "zerodown.yaml"), "--state-dir", str(state), *command])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"the state directory {state} cannot be written" in err, err
    assert "--state-dir" in err and "Not a directory" in err, err
    assert "Traceback" not in err


def test_an_unwritable_default_state_dir_is_named_too(tmp_path, capsys):
    (tmp_path / "zerodown.yaml").write_text(starter_yaml())
    (tmp_path / ".zerodown").write_text("")  # a file where the folder would be
    code = cli.main(["-f", str(tmp_path / "zerodown.yaml"), "down"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"the state directory {tmp_path / '.zerodown'} cannot be written" in err, err


def test_another_files_error_is_left_as_it_was(tmp_path, capsys):
    error = OSError(2, "No such file or directory", str(tmp_path / "elsewhere"))
    assert cli.os_error(error, tmp_path / ".zerodown") == (
        f"zerodown: error: No such file or directory: {tmp_path / 'elsewhere'}", 1)
