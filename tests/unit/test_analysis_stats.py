"""The sequential tests' statistics: e-values, their validity (simulated A/A) and power."""

from __future__ import annotations

import math
import random

import pytest

from zerodown.analysis import sequential as seq
from zerodown.analysis.evidence import Counts, Window
from zerodown.analysis.sequential import Tally
from zerodown.latency import BOUNDS


def bad(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


# --- single values ---------------------------------------------------------------

def test_tally_refuses_more_bad_than_trials():
    with pytest.raises(ValueError, match="0 <= bad <= trials, got 5 of 3"):
        Tally(3, 5)


@pytest.mark.parametrize("t, p, expected", [
    (Tally(0, 0), 0.3, 0.0), (Tally(4, 0), 0.0, 0.0), (Tally(4, 4), 1.0, 0.0),
    (Tally(4, 1), 0.0, -math.inf), (Tally(4, 3), 1.0, -math.inf),
    (Tally(2, 1), 0.5, 2 * math.log(0.5))])
def test_log_likelihood_edges(t, p, expected):
    assert seq.log_likelihood(t, p) == pytest.approx(expected)


@pytest.mark.parametrize("t, p0", [(Tally(1000, 5), 0.01), (Tally(1000, 10), 0.01), (Tally(0, 0), 0.1)])
def test_no_evidence_of_a_higher_rate_when_the_observed_one_is_not_higher(t, p0):
    assert seq.above(t, p0) <= 0  # E <= 1


def test_a_rate_clearly_above_or_below_gives_large_e():
    assert seq.above(Tally(1000, 60), 0.01) > seq.threshold(1e-6)
    assert seq.below(Tally(5000, 0), 0.01) > seq.threshold(0.01)
    assert seq.above(Tally(10, 1), 0.0) == math.inf  # a rate of 0 is refuted by one failure


@pytest.mark.parametrize("c, s, d", [
    (Tally(400, 2), Tally(3600, 18), 0.01), (Tally(400, 4), Tally(3600, 18), 0.0),
    (Tally(0, 0), Tally(3600, 18), 0.01), (Tally(400, 22), Tally(0, 0), 0.01)])
def test_no_evidence_of_worse_when_within_the_tolerance_or_without_data(c, s, d):
    assert seq.worse(c, s, d) <= 1e-9


def test_worse_and_better_point_the_right_way():
    c_bad, c_good, s = Tally(800, 44), Tally(4000, 20), Tally(7200, 36)
    assert seq.worse(c_bad, s, 0.01) > seq.threshold(0.005)
    assert seq.better(c_bad, s, 0.01) < 0
    assert seq.better(c_good, s, 0.01) > seq.threshold(0.005)
    assert seq.worse(c_good, s, 0.01) < 0


def test_the_constrained_maximum_is_the_best_point_on_the_boundary():
    c, s, d = Tally(400, 22), Tally(3600, 18), 0.01
    grid = max(seq.log_likelihood(c, p + d) + seq.log_likelihood(s, p)
               for p in (i / 100000 for i in range(1, 99000)))
    numerator = seq.log_mixture(c) + seq.log_mixture(s)
    assert seq.worse(c, s, d) == pytest.approx(numerator - grid, abs=1e-3)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1])
def test_threshold_needs_a_probability(alpha):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        seq.threshold(alpha)


# --- validity and power, simulated ---------------------------------------------------

def run(seed, pc, ps, d, alpha, looks=60, n_c=25, n_s=100, history=0):
    """Looks after each batch of traffic; 'fail'/'pass' at the first crossing, else 'open'.
    `history`: stable requests seen before the analysis began, making its prior."""
    rng, c, s, bound = random.Random(seed), [0, 0], [0, 0], seq.threshold(alpha)
    prior = seq.prior_from(Tally(history, bad(rng, history, ps)) if history else None)
    for look in range(1, looks + 1):
        c[0] += n_c
        c[1] += bad(rng, n_c, pc)
        s[0] += n_s
        s[1] += bad(rng, n_s, ps)
        if seq.worse(Tally(*c), Tally(*s), d, prior) >= bound:
            return "fail", look
        if seq.better(Tally(*c), Tally(*s), d, prior) >= bound:
            return "pass", look
    return "open", looks


@pytest.mark.parametrize("history", [0, 50_000])
def test_false_alarms_stay_below_alpha_at_the_edge_of_the_null(history):
    """The canary exactly as bad as allowed (stable + tolerance), looked at 60 times:
    it may be failed at most alpha of the time, despite all the peeking — also with
    the stable's earlier record as its prior."""
    alpha, runs = 0.05, 400
    fails = sum(run(i, 0.03, 0.02, 0.01, alpha, history=history)[0] == "fail"
                for i in range(runs))
    assert fails / runs <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)


def test_the_stables_record_makes_a_verdict_come_sooner():
    """Its prior near the stable's true rate: less of the mixture's regret to overcome."""
    plain = sorted(run(i, 0.055, 0.005, 0.01, 0.005, looks=100, n_c=50, n_s=450)[1]
                   for i in range(40))
    informed = sorted(run(i, 0.055, 0.005, 0.01, 0.005, looks=100, n_c=50, n_s=450,
                          history=135_000)[1] for i in range(40))
    assert informed[20] < plain[20] and informed[36] <= plain[36]


def test_a_fixed_threshold_peeked_at_repeatedly_is_not_valid_but_this_is():
    """The naive comparison (canary's rate above the stable's + tolerance at any look)
    fails A/A canaries often; the e-value never did at the same looks."""
    rng, naive, ours, runs = random.Random(7), 0, 0, 200
    for i in range(runs):
        c, s, hit = [0, 0], [0, 0], False
        for _ in range(30):
            c[0] += 25
            c[1] += bad(rng, 25, 0.02)
            s[0] += 100
            s[1] += bad(rng, 100, 0.02)
            hit = hit or c[1] / c[0] > s[1] / s[0] + 0.01
        naive += hit
        ours += run(i, 0.02, 0.02, 0.01, 0.05, looks=30)[0] == "fail"
    assert naive / runs > 0.3 and ours / runs <= 0.05


def test_a_five_point_regression_is_always_caught_quickly():
    looks = [run(i, 0.055, 0.005, 0.01, 0.005, looks=100, n_c=50, n_s=450) for i in range(40)]
    assert all(v == "fail" for v, _ in looks)
    assert sorted(n for _, n in looks)[20] <= 10  # median: 10 looks of 50 canary requests


def test_a_good_canary_passes_and_an_equal_one_is_never_failed():
    looks = [run(i, 0.005, 0.005, 0.01, 0.005, looks=150, n_c=50, n_s=450) for i in range(30)]
    assert all(v == "pass" for v, _ in looks)


# --- counts and windows ------------------------------------------------------------

def hist(**at) -> tuple[int, ...]:
    out = [0] * (len(BOUNDS) + 1)
    for bound, n in at.items():
        out[BOUNDS.index(float(bound.replace("ms", "")) / 1000)] = n
    return tuple(out)


def test_increase_since_and_restart():
    a = Counts(100, 2, hist(**{"5ms": 100}))
    b = Counts(150, 5, hist(**{"5ms": 140, "10ms": 10}))
    assert b.increase_since(a) == Counts(50, 3, hist(**{"5ms": 40, "10ms": 10}))
    restarted = Counts(20, 0, hist(**{"5ms": 20}))
    assert restarted.increase_since(b) == restarted  # the counter began again from zero
    assert Counts(150, 5).increase_since(a) == Counts(50, 3, None)
    assert b.increase_since(Counts()) == b  # since nothing: everything, histogram included


def test_window_takes_the_first_reading_as_baseline_and_skips_missing_ones():
    w = Window().read(Counts(100, 1)).read(Counts(130, 2)).read(None)
    assert w.total == Counts(30, 1) and w.last == Counts(130, 2)
    assert w.base == Counts(100, 1)  # the record before the analysis: the stable's prior
    w = w.read(Counts(10, 0))  # a restart: the 10 new ones count, nothing is negative
    assert w.total == Counts(40, 1)


def test_a_window_whose_source_first_knew_nothing_counts_from_zero():
    """Prometheus before its first scrape of a new revision: what it counts later is new."""
    w = Window().read(None).read(Counts(100, 1)).read(Counts(130, 2)).read(None)
    assert w.total == Counts(130, 2) and w.last == Counts(130, 2)
    assert w.base == Counts()


def test_plus_keeps_the_histogram_of_the_side_with_requests():
    h = hist(**{"5ms": 3})
    assert Counts().plus(Counts(3, 0, h)) == Counts(3, 0, h)
    assert Counts(3, 0, h).plus(Counts(3, 1, h)).latency == hist(**{"5ms": 6})
    assert Counts(3, 0, h).plus(Counts(3, 1, None)).latency is None


def test_slower_than_interpolates_within_a_bucket_and_quantile_inverts_it():
    c = Counts(200, 0, hist(**{"5ms": 100, "10ms": 100}))  # 100 in (4,5] ms, 100 in (7.5,10] ms
    assert c.slower_than(0.010) == 0
    assert c.slower_than(0.0075) == 100
    assert c.slower_than(0.00875) == pytest.approx(50)
    assert c.slower_than(0.0045) == pytest.approx(150)
    assert c.quantile(0.75) == pytest.approx(0.00875)
    assert Counts(5, 0).slower_than(0.01) is None and Counts().quantile(0.5) is None
