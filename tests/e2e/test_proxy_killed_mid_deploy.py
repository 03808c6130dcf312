"""A deployment survives its data plane being killed: the supervisor restarts the
serving process (or, with both killed, the router starts the proxy again) and the
deployment goes on to the end, with no instance left over."""

from __future__ import annotations

import os
import signal
import threading
import time

from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import Store

CONNECTIONS = 8
STRATEGY = "{kind: rolling, max_surge: 1, max_unavailable: 0}"


def kill_at_steps(stack, steps: tuple[int, ...], whole: bool = False) -> tuple[threading.Thread, list]:
    """In the background: SIGKILL the serving process (or, `whole`, the proxy's whole
    process group) when the active deployment's cursor reaches each of `steps`."""
    killed: list[int] = []

    def run() -> None:
        store = Store(str(stack.state_dir / "zerodown.db"))
        try:
            for at in steps:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    d = store.active_deployment("shop")
                    if d is not None and d.cursor >= at:
                        break
                    time.sleep(0.005)
                else:
                    return
                if whole:
                    os.killpg(stack.router.pid, signal.SIGKILL)
                    killed.append(stack.router.pid)
                else:
                    pid = stack.router.client.health()["pid"]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        finally:
            store.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, killed


def test_a_deployment_goes_on_when_the_serving_process_is_killed_twice(stack_factory):
    stack = stack_factory(instances=3, strategy=STRATEGY)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    thread, killed = kill_at_steps(stack, (2, 6))

    def deploy():
        phase = stack.deploy("v2")
        thread.join(5)
        return phase
    phase, result = stack.under_load(deploy, connections=CONNECTIONS, retry_idempotent_once=True)
    assert len(killed) == 2, killed
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    live = stack.runtime.adopt("shop")
    assert len(live) == 3 and {i.revision for i in live} == {stack.store.stable("shop")[0]}
    assert stack.router.client.table().revisions[0].name == f"r{stack.store.stable('shop')[0]}"


def test_a_deployment_goes_on_when_the_whole_proxy_is_killed(stack_factory):
    stack = stack_factory(instances=3, strategy=STRATEGY)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    thread, killed = kill_at_steps(stack, (3,), whole=True)
    phase = stack.deploy("v2")
    thread.join(5)
    assert killed and phase is Phase.SUCCEEDED
    live = stack.runtime.adopt("shop")
    assert len(live) == 3 and {i.revision for i in live} == {stack.store.stable("shop")[0]}
    assert stack.router.answers() and stack.router.client.health()["supervisor"] is not None
