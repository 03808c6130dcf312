"""A big release uploaded to the fleet holds a few MB of the controller, not the release.

Each host's upload was built in memory whole, a tar.gz and its base64 beside it (~2.3x
the release, per host at once): a 1-2 GB release to 20 hosts from a small CI runner
needed gigabytes. Made as it is sent (hosts/tar_stream.py), a host's upload holds a chunk
and what its SSH window lets go out."""

from __future__ import annotations

import os
import shutil
import tracemalloc

import pytest

from tests.support import APP
from tests.support.net import free_port
from zerodown.config import parse_config
from zerodown.runtimes import runtime_for

MB = 1 << 20
RELEASE_MB = 64
BOUND_MB = 24   # 3 hosts: a window (2 MB from sshd) and a chunk or two each, and the rest


@pytest.fixture
def runtime(healthy_fleet, tmp_path):
    text = healthy_fleet.service_config(free_port(), "{kind: rolling}", per_host=1)
    text = text.replace(f'"{APP}"', '"app.py"').replace(
        "  env: {", "  release: releases/{version}\n  env: {")
    path = tmp_path / "zerodown.yaml"
    path.write_text(text)
    for version in ("v1", "v2"):
        (tmp_path / "releases" / version).mkdir(parents=True)
        shutil.copy(APP, tmp_path / "releases" / version / "app.py")
    with open(tmp_path / "releases/v2/blob", "wb") as f:   # what gzip cannot shrink
        for _ in range(RELEASE_MB):
            f.write(os.urandom(MB))
    for host in healthy_fleet.hosts:
        shutil.rmtree(host.srv / "zerodown/releases", ignore_errors=True)
    rt = runtime_for(parse_config(text, file=str(path)), tmp_path / "state")
    yield rt
    rt.close()


def test_a_big_release_to_every_host_holds_a_few_mb_of_the_controller(runtime,
                                                                     healthy_fleet):
    runtime.check_release(runtime.config.app, "v1")   # the agents installed
    tracemalloc.start()
    try:
        runtime.check_release(runtime.config.app, "v2")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for host in healthy_fleet.hosts:   # it arrived whole, and was put in place
        blob = host.srv / "zerodown/releases/shop/v2/blob"
        assert blob.stat().st_size == RELEASE_MB * MB, host.name
    assert peak < BOUND_MB * MB, (f"{peak / MB:.0f} MB held to send {RELEASE_MB} MB to "
                                  f"{len(healthy_fleet.hosts)} hosts")
