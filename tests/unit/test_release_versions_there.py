"""A version whose release folder is missing is said beside the versions whose folders are
there (runtimes/release.py versions_there): `zerodown deploy v9` after a typo or before a
build names v1..v3, newest first; a path where {version} is not a whole part names none."""

from __future__ import annotations

import os

import pytest

from zerodown.commands.service import starter
from zerodown.config import load_config
from zerodown.errors import ConfigError
from zerodown.runtimes.release import check_release


def service(tmp_path, cwd: str = "releases/{version}"):
    text = starter("web", 8080).replace("cwd: releases/{version}", f"cwd: {cwd}")
    (tmp_path / "zerodown.yaml").write_text(text)
    return load_config(str(tmp_path / "zerodown.yaml"))


def test_the_versions_there_newest_first(tmp_path):
    for i, v in enumerate(["v1", "v2", "v3"]):
        (tmp_path / "releases" / v).mkdir(parents=True)
        os.utime(tmp_path / "releases" / v, (1000 + i, 1000 + i))
    (tmp_path / "releases" / "notes.txt").write_text("not a version")
    with pytest.raises(ConfigError) as e:
        check_release(service(tmp_path), "v9")
    assert str(e.value).endswith("does not exist (app.cwd 'releases/{version}'; versions "
                                 "there: v3, v2, v1)"), e.value


@pytest.mark.parametrize("cwd, made", [
    ("releases/{version}", None),                   # no releases/ folder at all
    ("releases/{version}/app", "releases/v1"),      # v1 lacks app/: not a version there
    ("releases/build-{version}", "releases/build-v1"),  # {version} not a whole part
])
def test_none_named_where_none_can_be_told(tmp_path, cwd, made):
    if made:
        (tmp_path / made).mkdir(parents=True)
    with pytest.raises(ConfigError) as e:
        check_release(service(tmp_path, cwd), "v9")
    assert str(e.value).endswith(f"does not exist (app.cwd '{cwd}')"), e.value
