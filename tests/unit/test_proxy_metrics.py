"""metrics.Stats.record: the bucket of each latency is bisect_left's over the bounds."""

import bisect

from zerodown.proxy.metrics import BOUNDS, Stats


def test_each_latency_lands_in_the_bucket_bisect_gives():
    samples = [0.0, 1e-6, *BOUNDS, *(b * 1.0001 for b in BOUNDS), *(b * 0.9999 for b in BOUNDS),
               BOUNDS[-1] * 2, 1e9]
    for seconds in samples:
        stats = Stats()
        stats.record(200, seconds)
        assert stats.buckets.index(1) == bisect.bisect_left(BOUNDS, seconds), seconds
        assert stats.requests == 1 and stats.by_class[2] == 1 and stats.latency_sum == seconds
