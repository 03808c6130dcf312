"""Shadow traffic (issue 15, part 2): copies of users' requests sent to a new revision beside
the hot path, its answers compared with stable's.

The comparison (diff.py); the Mirror that sends copies and compares (mirror.py); the
embedded proxy's side: its compiled Tap (zerodown/proxy/tap.py) keeps a copy per chosen
request, the Outbox (outbox.py) ships them to a low-priority worker process (worker.py)
running the Mirror, off the users' event loop (admin API PUT/GET/DELETE /shadow,
docs/proxy.md). A deployment drives it: a canary's `{shadow: ...}` step and blue/green's
`pre_promotion_shadow` (strategies/shadow_options.py, engine/shadowing.py), `max_diff_rate`
judged by the analysis's sequential test (analysis/checks.py DiffRate), differing pairs in
the event log, status and the dashboard. nginx mirrors but discards the copy's answer:
its router runs a comparator process (comparator.py, kept by comparing.py) that replays
each copy to a stable instance and to the shadow and compares the two, safe methods only.
HAProxy cannot mirror (routers/capabilities.py refuses a shadow there, saying why). Cost
to users and the share of requests compared: benchmarks/README.md."""
