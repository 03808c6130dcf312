"""Deployments through a real nginx (router kind nginx) under load, every response counted.

Two clients run through each deployment, and neither may see a failure: one that
retries an idempotent request once when a reused keep-alive connection closes
before any response byte (as browsers and urllib3 do), and a raw one. nginx
closes idle client connections on every reload; the router's default
keepalive_timeout 0 leaves none idle (with 75s the raw client lost 2-4 requests
per reload: benchmarks/README.md).
"""

from __future__ import annotations

import os
import shutil

import pytest

from zerodown.engine.lifecycle import Phase
from zerodown.loadgen import LoadInBackground
from tests.e2e.stack import FOUR_STRATEGIES

if shutil.which("nginx") is None and os.environ.get("CI") != "true":
    pytest.skip("nginx is not installed (bash scripts/setup.sh installs it); never skipped "
                "under CI", allow_module_level=True)


NGINX = "{kind: nginx, workers: 2, worker_shutdown_timeout: 5s}"


@pytest.mark.parametrize("strategy", FOUR_STRATEGIES)
def test_a_deployment_through_nginx_fails_nothing_for_a_retrying_client(stack_factory, strategy):
    stack = stack_factory(strategy=strategy, router=NGINX)
    assert type(stack.router).__name__ == "NginxRouter"
    assert stack.deploy("v1") is Phase.SUCCEEDED
    with LoadInBackground(stack.url, connections=4, retry_idempotent_once=True) as retrying, \
            LoadInBackground(stack.url, connections=4) as raw:
        retrying.wait_for_responses(300)
        assert stack.deploy("v2") is Phase.SUCCEEDED
        retrying.wait_for_responses(retrying.progress()[0] + 300)
        result, plain = retrying.stop(), raw.stop()
    print(f"\n{strategy} through nginx: retrying client {result.failed()} failed of "
          f"{result.sent} ({result.retried} retried once); raw client {plain.failed()} "
          f"failed of {plain.sent} {plain.errors}")
    assert result.failed() == 0, result.summary()
    # issue 11.19: with client keep-alive (nginx's default) the raw client lost 2-4 requests
    # per reload; the router's default (keepalive_timeout 0) leaves no idle connection to close
    assert plain.failed() == 0, plain.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    assert len(stack.pids()) == 3
    table = stack.router.table()
    assert [r.name for r in table.revisions if r.weight > 0] == [f"r{stack.store.stable('shop')[0]}"]


def test_nginx_attach_with_a_lost_state_directory_takes_nginx_back_under_load(tmp_path):
    """Issue 11.17: with its state directory lost, `up` failed with "table version 2 is older
    than the one in force (35)". A new store takes the user's nginx back in a new epoch."""
    import os
    import signal
    import subprocess
    from zerodown.errors import RouterError
    from zerodown.routers.nginx_options import NginxOptions
    from zerodown.routers.nginx_process import master_from
    from zerodown.routers.nginx_render import render_main
    from tests.e2e.stack import Stack, write_config
    from tests.support.net import free_port, wait_until
    (tmp_path / "temp").mkdir()
    include, conf = tmp_path / "zerodown-shop.conf", tmp_path / "nginx.conf"
    conf.write_text(render_main(f"include {include};\n", options=NginxOptions(workers="1")))
    router = f"{{kind: nginx, config: {include}, pid_file: {tmp_path / 'nginx.pid'}}}"
    port, stacks = free_port(), []

    def stack(name: str) -> Stack:
        (tmp_path / name).mkdir(exist_ok=True)
        stacks.append(Stack(write_config(tmp_path / name, instances=2, port=port, router=router),
                            tmp_path / name / "state"))
        return stacks[-1]
    try:
        with pytest.raises(RouterError, match="that file is ready"):
            stack("first")  # zerodown up before nginx: the include file is written
        stacks.clear()
        subprocess.run(["nginx", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr"],
                       check=True)
        # nginx writes its pid file before its master takes its title: wait for the master itself
        wait_until(lambda: master_from(tmp_path / "nginx.pid") is not None, 5,
                   "the user's nginx master running")
        first = stack("first")
        for version in ("v1", "v2"):
            assert first.deploy(version) is Phase.SUCCEEDED
        held = first.router.table()
        again = stack("again")  # the same service, its state directory lost
        with LoadInBackground(again.url, connections=4, retry_idempotent_once=True) as load:
            load.wait_for_responses(200)
            assert again.deploy("v3") is Phase.SUCCEEDED
            load.wait_for_responses(load.progress()[0] + 200)
            result = load.stop()
        assert result.failed() == 0, result.summary()
        table = again.router.table()
        assert table.epoch == held.epoch + 1 and table.version < held.version
        assert [e.kind for e in again.store.events("shop")].count("routing.authority") == 1
        assert result.by_header["X-Version"].get("v3", 0) > 0
    finally:
        for s in stacks:
            s.close()
        pid = (tmp_path / "nginx.pid")
        if pid.exists():
            os.kill(int(pid.read_text()), signal.SIGQUIT)
