"""An analysis verdict in plain words, from the facts the checks record."""

from __future__ import annotations

import pytest

from zerodown.analysis.words import Facts, fact_words, verdict_words


@pytest.mark.parametrize("facts, text", [
    (Facts("errors", 0.052, 0.005, 0.01, True, 412),
     "r7 fails 5.2% of requests vs stable 0.5% (limit +1 pt)"),
    (Facts("errors", 0.0004, 0.0, 0.005, True, 5000),
     "r7 fails 0.04% of requests vs stable 0.0% (limit +0.5 pt)"),
    (Facts("errors", 0.02, None, 0.01, False, 100), "r7 fails 2.0% of requests (limit 1.0%)"),
    (Facts("errors", None, None, 0.01, False, 0), "r7 fails n/a of requests (limit 1.0%)"),
    (Facts("latency", 0.0195, 0.00904, 1.2, True, 700),
     "r7 answers 99% of requests within 19.5 ms vs stable 9.04 ms (limit 1.2x stable)"),
    (Facts("latency", 0.25, None, 0.2, False, 700),
     "r7 answers 99% of requests within 250 ms (limit 200 ms)"),
    (Facts("diffs", 0.0105, None, 0.001, False, 2099),
     "r7 answers 1.1% of copied requests unlike stable (limit 0.1%)"),
])
def test_each_fact_in_words(facts, text):
    assert fact_words("r7", facts) == text


def test_a_verdict_names_what_decided_it_and_after_how_many_requests():
    errors = Facts("errors", 0.052, 0.005, 0.01, True, 412)
    latency = Facts("latency", 0.01, 0.009, 1.5, True, 400)
    assert verdict_words("canary r7", "fail", [errors], 412) == (
        "canary r7 fails 5.2% of requests vs stable 0.5% (limit +1 pt): failed after 412 requests")
    assert verdict_words("r7", "pass", [errors, latency], 412).endswith(
        "(limit 1.5x stable): passed after 412 requests")
    assert verdict_words("r7", "inconclusive", [], 3) == "r7: no check: undecided after 3 requests"


def test_a_shadows_verdict_counts_compared_copies():
    diffs = Facts("diffs", 0.0, None, 0.002, False, 3650)
    assert verdict_words("r7", "pass", [diffs], 3650) == (
        "r7 answers 0.0% of copied requests unlike stable (limit 0.2%): passed after 3650 "
        "compared copies")
