"""The proof's arithmetic (zerodown/proof.py): pure, over two stats() readings."""

from zerodown import proof


def reading(r1: dict, r2: dict | None = None, unrouted: int = 0) -> dict:
    revisions = {"r1": r1} | ({"r2": r2} if r2 else {})
    return {"unrouted": unrouted, "revisions": revisions}


def counters(requests, ok, five=0, errors=0, retries=0, saved=0, cut=0) -> dict:
    return {"requests": requests, "responses": {"2xx": ok, "5xx": five}, "errors": errors,
            "retries": retries, "saved": saved, "cut": cut}


def test_the_proof_is_the_difference_with_the_load_balancers_own_errors_apart():
    before = reading(counters(100, 95, 5, errors=2))
    after = reading(counters(160, 140, 20, errors=6, retries=3, saved=3, cut=1),
                    counters(50, 50), unrouted=2)
    p = proof.measure("embedded", before, after, 12.5, 2, 3.0)
    assert p.requests == 60 + 50 + 2
    assert (p.lb_errors, p.unrouted, p.cut, p.failed) == (4, 2, 1, 7)
    assert p.app_5xx == 15 - 4  # the proxy's own 502/503/504 are in its 5xx class too
    assert (p.retries, p.saved, p.complete) == (3, 3, True)
    assert p.revisions["r2"] == {"requests": 50, "responses": {
        "1xx": 0, "2xx": 50, "3xx": 0, "4xx": 0, "5xx": 0}}
    assert proof.line(p) == ("112 requests during the deployment, 7 failed by it; app 5xx: 11;"
                             " retried: 3 (3 saved)")
    assert proof.Proof.from_dict(p.to_dict()) == p


def test_counters_that_went_back_make_an_incomplete_proof_and_fail_a_requirement():
    before = reading(counters(1000, 1000), counters(10, 10))
    after = reading(counters(30, 30))  # the load balancer restarted: r2 is gone, r1 restarted
    p = proof.measure("haproxy", before, after, 1.0, None, 0.0, required=True)
    assert not p.complete and p.requests == 30 and p.saved is None and p.limits
    assert proof.fails_requirement(p.to_dict())
    assert "incomplete" in proof.line(p)
    assert not proof.fails_requirement(dict(p.to_dict(), complete=True))


def test_capacity_counts_healthy_backends_of_revisions_with_traffic():
    stats = {"backends": {"a": {"state": "active"}, "b": {"state": "ejected"},
                          "c": {"state": "draining"}}}
    backends = {"a": "r1", "b": "r1", "c": "r2", "d": "r2", "e": "r3"}
    assert proof.capacity(stats, {"r1": 50, "r2": 50, "r3": 0}, backends) == 2  # a and d
    assert proof.serving(reading(counters(1, 1), counters(1, 1)),
                         reading(counters(2, 2), counters(1, 1))) == {"r1"}
