"""Shadow traffic (issue 15, part 2): copies of users' requests sent to a new revision beside
the hot path, its answers compared with stable's.

What works: the comparison (diff.py), the bounded mirror (mirror.py), and the embedded
proxy feeding it (admin API PUT/GET/DELETE /shadow, docs/proxy.md). Not yet: a `shadow:`
canary step and blue/green `pre_promotion_shadow` (the engine does not drive it), the
`max_diff_rate` analysis check, examples in the event log/status/dashboard, HAProxy and
nginx. Measured (benchmarks/README.md): the mirror opens a connection per copy, so at
100% under full load most copies are dropped, and users' req/s fell ~14%."""
