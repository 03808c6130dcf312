"""A deployment's proof (zerodown/proof.py) agrees with an outside load generator's count.

The load runs wholly inside the deployment (during a canary's pause, ended by a
promote), so every request the load generator sent is one the proof must count:
the totals, the application's own 5xx and the load balancer's own failures
must be the load generator's, exactly.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from zerodown.engine.lifecycle import Phase
from zerodown.loadgen.run import run_load_sync
from zerodown.plan import Pause

CANARY = "{kind: canary, steps: [{weight: 50}, {pause: 60s}, {weight: 100}]}"


def _at_pause(stack, id: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        d = stack.store.deployment(id)
        record = stack.store.step_record(id, d.cursor)
        if isinstance(d.step, Pause) and record is not None and record.in_progress:
            return
        assert not d.phase.terminal and time.monotonic() < deadline, d
        time.sleep(0.02)


def _unread_request(address: str) -> bool:
    """Does a connection to `address` ("host:port", an instance of this machine) hold bytes
    its process has not read: a request waiting at it (/proc/net/tcp: its local port,
    ESTABLISHED, a receive queue)? A stopped instance's requests wait so."""
    port = int(address.rsplit(":", 1)[1])
    with open("/proc/net/tcp") as table:
        next(table)  # the heading
        for row in table:
            _, local, _, state, queues = row.split()[:5]
            if (int(local.split(":")[1], 16) == port and state == "01"
                    and int(queues.split(":")[1], 16) > 0):
                return True
    return False


def _deploy_around(stack, version: str, load, **kwargs):
    """Deploy `version` by the canary, run load() at its pause, promote: (phase, load's result, proof)."""
    id = stack.engine.deploy(version, **kwargs)
    out: dict = {}
    runner = threading.Thread(target=lambda: out.setdefault("phase", stack.engine.run(id)))
    runner.start()
    try:
        _at_pause(stack, id)
        result = load()
        stack.engine.promote(id)
    finally:
        runner.join(60)
    return out.get("phase"), result, stack.store.proof_state(id)["proof"]


@pytest.mark.parametrize("router", [None, "{kind: haproxy}", "{kind: nginx}"])
def test_the_proof_counts_what_the_load_generator_counted_app_5xx_apart(stack_factory, router):
    stack = stack_factory(instances=2, strategy=CANARY, router=router)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    phase, result, proof = _deploy_around(
        stack, "v2", lambda: run_load_sync(stack.url, connections=4, requests=1500),
        overrides=["app.env.APP_ERROR_RATE=0.05"])
    assert phase is Phase.SUCCEEDED
    assert result.sent == 1500 and not result.errors, result.summary()
    assert proof["requests"] == result.sent
    assert proof["app_5xx"] == result.statuses.get(500, 0) > 0
    assert proof["failed"] == 0 and proof["lb_errors"] == 0 and proof["complete"]
    assert proof["responses"]["2xx"] == result.statuses.get(200, 0)
    assert set(proof["revisions"]) == {"r1", "r2"}  # both answered at the 50% step
    assert sum(r["requests"] for r in proof["revisions"].values()) == result.sent
    assert proof["overlap_s"] > 0 and proof["min_capacity"] >= 2



def _hey(url: str, requests: int, workers: int) -> dict[int, int]:
    """Status code -> responses, as hey (Debian's HTTP load generator, not ours) counted them."""
    done = subprocess.run(["hey", "-n", str(requests), "-c", str(workers), "-t", "10", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Error distribution" not in done.stdout, done.stdout  # every request answered
    return {int(code): int(n) for code, n in
            re.findall(r"^\s*\[(\d{3})\]\s+(\d+) responses", done.stdout, re.MULTILINE)}


@pytest.mark.parametrize("router", [None, "{kind: haproxy}", "{kind: nginx}"])
def test_the_proof_agrees_with_hey(stack_factory, router):
    """The same agreement with a load generator that is not zerodown's own (hey, from Debian)."""
    stack = stack_factory(instances=2, strategy=CANARY, router=router)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    phase, statuses, proof = _deploy_around(stack, "v2", lambda: _hey(stack.url, 1200, 4),
                                            overrides=["app.env.APP_ERROR_RATE=0.05"])
    assert phase is Phase.SUCCEEDED
    assert sum(statuses.values()) == 1200, statuses
    assert proof["requests"] == 1200
    assert proof["app_5xx"] == statuses.get(500, 0) > 0
    assert proof["responses"]["2xx"] == statuses.get(200, 0)
    assert proof["failed"] == 0 and proof["complete"]

# Not HAProxy: what it answers itself when a server dies mid-request (a 503 after its queue
# timeout, a client connection closed) is on no server's row, so its proof cannot count it
# (proof.LIMITS["haproxy"] says so).
@pytest.mark.parametrize("router", [None, "{kind: nginx}"])
def test_the_proof_counts_the_load_balancers_502s_as_the_load_generator_saw_them(stack_factory,
                                                                                router):
    """A backend killed mid-request: the proxy answers 502 to POSTs it must not retry; the
    proof counts them as failed by the deployment, as many as the load generator got."""
    stack = stack_factory(instances=2, strategy=CANARY, router=router)
    assert stack.deploy("v1") is Phase.SUCCEEDED

    def kill_with_requests_in_flight(victim) -> None:
        """Stopped first, so requests wait on it; killed once the load balancer has some
        there (a kill between two requests would only refuse connections, which are retried)."""
        os.kill(victim.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        if stack.router.stats().get("in_flight_known") is False:  # nginx cannot say: the
            while not _unread_request(victim.address):  # stopped instance's sockets can
                assert time.monotonic() < deadline, "no request reached the stopped instance"
                time.sleep(0.01)
        else:
            while not any(b.get("in_flight", 0) > 0 and b.get("address") == victim.address
                          for b in stack.router.stats().get("backends", {}).values()):
                assert time.monotonic() < deadline, stack.router.stats()
                time.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)

    def load():
        victim = next(i for i in stack.runtime.adopt("shop") if i.revision == 2)
        killer = threading.Timer(0.5, kill_with_requests_in_flight, (victim,))
        killer.start()
        try:
            return run_load_sync(stack.url + "echo", connections=8, duration=2.0, method="POST",
                                 body=b"x", timeout=5)
        finally:
            killer.join()

    phase, result, proof = _deploy_around(stack, "v2", load,
                                          overrides=["app.env.APP_LATENCY_MS=50"])
    assert phase is not None
    made_by_proxy = sum(n for code, n in result.statuses.items() if code in (502, 503, 504))
    assert made_by_proxy > 0, result.summary()
    assert not result.errors, result.summary()  # every request got an answer
    assert proof["requests"] == result.sent
    assert proof["failed"] == made_by_proxy == proof["lb_errors"] + proof["unrouted"], \
        (proof, result.statuses)
    assert proof["app_5xx"] == 0


@pytest.mark.parametrize("require", [True, False])
def test_require_zero_failed_makes_the_proof_fail_the_exit_code(require):
    from zerodown.commands.follow import exit_code
    proof = {"router": "embedded", "duration_s": 1.0, "requests": 10, "revisions": {},
             "responses": {}, "failed": 1, "lb_errors": 1, "unrouted": 0, "cut": 0,
             "app_5xx": 0, "retries": 0, "saved": 0, "min_capacity": 2, "overlap_s": 0.5,
             "complete": True, "limits": [], "required": require}
    d = {"phase": "succeeded", "strategy": "rolling", "step_text": None, "error": None}
    assert exit_code(dict(d, proof=proof)) == (1 if require else 0)
    assert exit_code(dict(d, proof=dict(proof, failed=0, lb_errors=0))) == 0
