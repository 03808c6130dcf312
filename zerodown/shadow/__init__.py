"""Shadow traffic (issue 15, part 2): copies of users' requests sent to a new revision beside
the hot path, its answers compared with stable's.

What works: the comparison (diff.py), the bounded mirror (mirror.py), and the embedded
proxy feeding it (admin API PUT/GET/DELETE /shadow, docs/proxy.md). Not yet: a `shadow:`
canary step and blue/green `pre_promotion_shadow` (the engine does not drive it), the
`max_diff_rate` analysis check, examples in the event log/status/dashboard, HAProxy and
nginx. Measured (benchmarks/README.md): at 100% under full load most copies are
dropped (counted) and users' req/s fell 12-16% on a busy machine (target: 10%)."""
