"""Shadow traffic (issue 15, part 2): copies of users' requests sent to a new revision beside
the hot path, its answers compared with stable's.

The comparison (diff.py), the bounded mirror (mirror.py), the embedded proxy feeding it
(admin API PUT/GET/DELETE /shadow, docs/proxy.md), and a deployment driving it: a canary's
`{shadow: ...}` step and blue/green's `pre_promotion_shadow` (strategies/shadow_options.py,
engine/shadowing.py), `max_diff_rate` judged by the analysis's sequential test
(analysis/checks.py DiffRate), differing pairs in the event log, status and the dashboard.
HAProxy and nginx cannot mirror (routers/capabilities.py refuses a shadow there). Measured (benchmarks/README.md): at 100% under full load most copies are
dropped (counted) and users' req/s fell 12-16% on a busy machine (target: 10%)."""
