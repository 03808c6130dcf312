"""A release that could not be uploaded names each host once (runtimes/ssh_release.py):
a newcomer's edited v2 read `zdn1: host zdn1: release v2 ... has other content`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from zerodown.errors import RuntimeFailure
from zerodown.runtimes.ssh_release import _each_host


def test_each_host_that_refused_is_named_once_with_why(tmp_path):
    def upload_to(host: str, uploads) -> None:
        if host != "app2":
            raise RuntimeFailure(f"host {host}: release v2 in /srv/z/releases/web/v2 has other "
                                 "content than this upload: a version is never changed")
    with ThreadPoolExecutor(3) as pool:
        runtime = SimpleNamespace(names=["app1", "app2", "app3"], every_host=pool,
                                  local_state=tmp_path)
        with pytest.raises(RuntimeFailure) as refused:
            _each_host(runtime, "v2", upload_to)
    assert str(refused.value).splitlines() == [
        "release v2 could not be uploaded, nothing was changed:",
        "  app1: release v2 in /srv/z/releases/web/v2 has other content than this upload: a "
        "version is never changed",
        "  app3: release v2 in /srv/z/releases/web/v2 has other content than this upload: a "
        "version is never changed"]
