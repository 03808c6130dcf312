"""A deployment's zero-downtime proof, from the load balancer's own counters. Pure.

Two readings of router.stats() (one as the deployment starts, one as it ends)
give what was served in between; the samples taken meanwhile (proof_recorder)
give the lowest serving capacity and how long two revisions served at once.

What "failed by the deployment" counts is what the load balancer itself did
wrong for a client while the deployment ran: the 502/503/504 it answered itself
(a connection refused or reset by an instance that was leaving, a response
timeout), the 503s it answered with no revision to route to, and responses cut
off mid-way. The application's own 5xx (a backend answered 500) are apart:
they are the application's doing, whatever revision. What each load balancer
can and cannot tell is in LIMITS.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# What each load balancer's counters cannot tell; said in every proof it makes.
LIMITS: dict[str, tuple[str, ...]] = {
    "embedded": (),
    "haproxy": (
        "lb_errors are HAProxy's connection and response errors to servers (econ + eresp), "
        "counted per attempt: an attempt retried successfully counts there too",
        "what HAProxy answered itself with no server (a 503 after its queue timeout, a client "
        "connection closed when a server died mid-request) is on no server's row: it is in "
        "neither requests nor failed",
        "responses cut mid-way are not counted apart (HAProxy has no such counter per server)",
        "retries that saved a request are not counted apart from retries",
    ),
    "nginx": (
        "lb_errors are 502/504 answers whose last upstream gave no status: most likely "
        "nginx's own, not certainly",
        "responses cut mid-way are not counted apart (nginx logs the status it had sent)",
        "retries that saved a request are not counted apart from retries",
        "a request is counted once nginx wrote its log line, just after its response",
    ),
}


@dataclass(frozen=True)
class Proof:
    router: str
    duration_s: float
    requests: int                 # answered during the deployment, every revision
    revisions: dict[str, dict]    # name -> {"requests": n, "responses": {"2xx": n, ...}}
    responses: dict[str, int]     # by status class, every revision
    failed: int                   # failed by the deployment: lb_errors + unrouted + cut
    lb_errors: int                # 502/503/504 the load balancer answered for a revision
    unrouted: int                 # 503s with no revision to route to
    cut: int                      # responses cut off mid-way
    app_5xx: int                  # 5xx the application answered itself
    retries: int                  # attempts the load balancer made again elsewhere
    saved: int | None             # requests answered after a retry (None: cannot tell)
    min_capacity: int | None      # fewest healthy backends serving at once (None: no sample)
    overlap_s: float              # time two or more revisions answered requests at once
    complete: bool = True         # False: counters were reset meanwhile (load balancer restart)
    limits: tuple[str, ...] = field(default=())
    required: bool = False        # require_zero_failed: a failure here makes the exit code 1

    @property
    def shows_failure(self) -> bool:
        """A request failed by the deployment, or the counters cannot say (reset meanwhile)."""
        return self.failed > 0 or not self.complete

    def to_dict(self) -> dict:
        out = asdict(self)
        out["limits"] = list(self.limits)
        return out

    @staticmethod
    def from_dict(data: dict) -> Proof:
        return Proof(**{**data, "limits": tuple(data.get("limits", ()))})


def _counters(entry: dict) -> dict[str, int]:
    responses = entry.get("responses") or {}
    out = {"requests": int(entry.get("requests", 0)),
           **{c: int(responses.get(c, 0)) for c in CLASSES}}
    for key in ("errors", "retries", "saved", "cut"):
        out[key] = int(entry.get(key) or 0)
    return out


def difference(before: dict, after: dict) -> tuple[dict[str, dict[str, int]], int, bool]:
    """Per revision, the counters added between two stats() readings; the unrouted
    503s added; and whether every counter only grew (False: reset meanwhile, and
    the reading after is taken whole, as counted since the reset)."""
    complete = True
    out: dict[str, dict[str, int]] = {}
    old = before.get("revisions") or {}
    for name, entry in (after.get("revisions") or {}).items():
        now, was = _counters(entry), _counters(old.get(name) or {})
        if any(now[k] < was[k] for k in now):
            complete, was = False, dict.fromkeys(now, 0)
        out[name] = {k: now[k] - was[k] for k in now}
    unrouted = int(after.get("unrouted") or 0) - int(before.get("unrouted") or 0)
    if unrouted < 0:
        complete, unrouted = False, int(after.get("unrouted") or 0)
    if set(old) - set(after.get("revisions") or {}):
        complete = False  # a revision's counters vanished: the load balancer restarted
    return out, unrouted, complete


def measure(router: str, before: dict, after: dict, duration_s: float,
            min_capacity: int | None, overlap_s: float, complete: bool = True,
            required: bool = False) -> Proof:
    """The proof of a deployment from its two readings and what its samples saw."""
    diff, unrouted, whole = difference(before, after)
    responses = {c: sum(d[c] for d in diff.values()) for c in CLASSES}
    lb_errors = sum(d["errors"] for d in diff.values())
    cut = sum(d["cut"] for d in diff.values())
    served = sum(d["requests"] for d in diff.values())
    # The embedded proxy and nginx count their own 502/503/504 in the 5xx class too;
    # HAProxy's econ/eresp are attempts, maybe retried, so this is a floor at 0.
    app_5xx = max(0, responses["5xx"] - lb_errors)
    return Proof(
        router=router, duration_s=round(duration_s, 3), requests=served + unrouted,
        revisions={name: {"requests": d["requests"],
                          "responses": {c: d[c] for c in CLASSES}}
                   for name, d in sorted(diff.items()) if d["requests"]},
        responses=responses, failed=lb_errors + unrouted + cut, lb_errors=lb_errors,
        unrouted=unrouted, cut=cut, app_5xx=app_5xx,
        retries=sum(d["retries"] for d in diff.values()),
        saved=sum(d["saved"] for d in diff.values()) if router == "embedded" else None,
        min_capacity=min_capacity, overlap_s=round(overlap_s, 3),
        complete=complete and whole, limits=LIMITS.get(router, ()), required=required)


def capacity(stats: dict, weights: dict[str, float], backends: dict[str, str]) -> int:
    """Healthy backends serving now: in the table with a share of traffic (`backends`:
    id -> revision, `weights`: revision -> share), not ejected or down by the load
    balancer's own account (a load balancer that does not say counts them healthy)."""
    states = stats.get("backends") or {}
    return sum(1 for bid, revision in backends.items() if weights.get(revision, 0) > 0
               and (states.get(bid) or {}).get("state", "active") in ("active", "up"))


def serving(before: dict, after: dict) -> set[str]:
    """The revisions that answered requests between two readings."""
    old = before.get("revisions") or {}
    return {name for name, entry in (after.get("revisions") or {}).items()
            if int(entry.get("requests", 0)) > int((old.get(name) or {}).get("requests", 0))}


def line(proof: Proof) -> str:
    """The one line `zerodown deploy` ends with."""
    text = (f"{proof.requests:,} requests during the deployment, {proof.failed:,} failed by it; "
            f"app 5xx: {proof.app_5xx:,}")
    if proof.retries:
        text += f"; retried: {proof.retries:,}" + (
            f" ({proof.saved:,} saved)" if proof.saved is not None else "")
    if not proof.complete:
        text += " (incomplete: the load balancer's counters were reset meanwhile)"
    if proof.required and proof.shows_failure:
        text += "; require_zero_failed: this deployment fails it"
    return text


def fails_requirement(proof: dict | None) -> bool:
    """Does this proof (as stored) make the deployment's exit code 1?"""
    return proof is not None and Proof.from_dict(proof).required \
        and Proof.from_dict(proof).shows_failure
