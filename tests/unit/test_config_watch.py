"""The controller reads zerodown.yaml again only when it changed (config_watch.py): a stat
per request, a parse per edit, and the file's own error while an edit leaves it invalid."""

from __future__ import annotations

import os

import pytest

from zerodown.config import load_config
from zerodown.config_watch import WatchedConfig, stamp
from zerodown.errors import ConfigError

FILE = """\
service: shop
listen: 127.0.0.1:8080
app: {{command: "python3 app.py --port {{port}}"}}
instances: {n}
"""


def watched(tmp_path, n=1):
    path = tmp_path / "zerodown.yaml"
    path.write_text(FILE.format(n=n))
    return path, WatchedConfig(str(path), load_config)


def test_an_unchanged_file_is_not_read_again(tmp_path):
    path, w = watched(tmp_path)
    first = w.current()
    assert w.current() is first and w.current() is first
    assert w.reads == 1


def test_each_kind_of_edit_is_seen(tmp_path):
    path, w = watched(tmp_path)
    assert w.current().instances == 1
    st = os.stat(path)
    # in place, same size, same mtime (a clock too coarse to tell): not seen, by design
    path.write_text(FILE.format(n=2))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert w.current().instances == 1
    # in place, another size
    path.write_text(FILE.format(n=12))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert w.current().instances == 12
    # in place, same size, a new mtime
    path.write_text(FILE.format(n=13))
    os.utime(path, ns=(1, 1))
    assert w.current().instances == 13
    # an editor's new file renamed over it: another inode, even with size and mtime equal
    new = tmp_path / "zerodown.yaml.new"
    new.write_text(FILE.format(n=14))
    os.utime(new, ns=(1, 1))
    before = stamp(str(path))
    os.replace(new, path)
    assert stamp(str(path))[0] != before[0]
    assert w.current().instances == 14
    assert w.reads == 4


def test_an_invalid_edit_is_its_error_until_mended(tmp_path):
    path, w = watched(tmp_path)
    good = w.current()
    path.write_text(FILE.format(n="zero"))
    with pytest.raises(ConfigError) as e:
        w.current()
    assert "instances" in str(e.value) and str(path) in str(e.value)
    with pytest.raises(ConfigError):  # the same error, not read again
        w.current()
    assert w.reads == 2 and w.last_good is good
    path.write_text(FILE.format(n=3))
    assert w.current().instances == 3 and w.last_good.instances == 3


def test_a_missing_file_is_looked_for_again(tmp_path):
    path, w = watched(tmp_path)
    w.current()
    path.unlink()
    with pytest.raises(ConfigError):
        w.current()
    with pytest.raises(ConfigError):
        w.current()
    path.write_text(FILE.format(n=5))
    assert w.current().instances == 5
