"""Deployments through a real nginx (router kind nginx) under load, every response counted.

Two clients run through each deployment: one that retries an idempotent request
once when a reused keep-alive connection closes before any response byte (as
browsers and urllib3 do) must see no failure at all; a raw one is reported, as
each nginx reload closes idle client connections under it.
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
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    assert len(stack.pids()) == 3
    table = stack.router.table()
    assert [r.name for r in table.revisions if r.weight > 0] == [f"r{stack.store.stable('shop')[0]}"]
